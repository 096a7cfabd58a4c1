"""r1jax.rl."""
