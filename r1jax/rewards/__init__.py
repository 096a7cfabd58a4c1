"""r1jax.rewards."""
