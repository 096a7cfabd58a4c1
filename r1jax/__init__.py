"""r1jax: reasoning-model RL in JAX."""
__version__ = "0.1.0"
