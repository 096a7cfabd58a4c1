"""DAPO overlong filtering as a static-shape mask (`train/rl_phases.loss_mask` applies it).

Shape legend: N completions, T completion tokens. Nothing here changes an array's size (jit
needs static shapes): filtered rows are masked out. DAPO's other filter, dynamic sampling,
selects whole groups on the host (`train/rl_phases.dynamic_rollout`), where it can refill.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def overlong_mask(truncated_N: Array, mask_NxT: Array) -> Array:
  """DAPO overlong filtering: the completion mask with truncated completions zeroed.

  Same dtype as mask_NxT. Their rewards still enter the group statistics; only their tokens
  stop contributing to the loss.
  """
  keep_Nx1 = ~truncated_N.astype(bool)[:, None]
  return jnp.where(keep_Nx1, mask_NxT, jnp.zeros_like(mask_NxT))
