"""DAPO dynamic sampling and overlong filtering, as static-shape masks.

Shape legend: N completions = num_prompts (P) * G, each group of G contiguous; T completion
tokens. Nothing here changes an array's size (jit needs static shapes): filtered rows are
masked out, and the trainer folds the masks into `mask_NxT` / `AdvantageInputs.keep_N`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def group_keep_mask(rewards_N: Array, group_size: int) -> tuple[Array, Array]:
  """DAPO dynamic sampling: drop groups whose G rewards are all equal (no learning signal).

  Returns (keep_N, num_dropped_groups): keep_N is float32 1/0 per row, constant within a
  group; num_dropped_groups is an int32 scalar. Equality is exact, as rule rewards are.
  """
  N = rewards_N.shape[0]
  if group_size < 1 or N % group_size:
    raise ValueError(f"group_size={group_size} must be a positive int dividing N={N}")
  r_PxG = rewards_N.reshape(-1, group_size)
  keep_P = jnp.max(r_PxG, axis=1) != jnp.min(r_PxG, axis=1)
  keep_N = jnp.repeat(keep_P, group_size).astype(jnp.float32)
  return keep_N, jnp.sum(~keep_P, dtype=jnp.int32)


def overlong_mask(truncated_N: Array, mask_NxT: Array) -> Array:
  """DAPO overlong filtering: the completion mask with truncated completions zeroed.

  Same dtype as mask_NxT. Their rewards still enter the group statistics; only their tokens
  stop contributing to the loss.
  """
  keep_Nx1 = ~truncated_N.astype(bool)[:, None]
  return jnp.where(keep_Nx1, mask_NxT, jnp.zeros_like(mask_NxT))
