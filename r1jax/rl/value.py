"""PPO value function: a linen value head, a separate critic, and the clipped value loss.

Shape legend: B batch, T tokens, D d_model; N completions, T completion tokens (as in losses).

Two ways to get values_NxT, aligned with the policy's logits (the state that predicts token t):
  * on the policy trunk: `hidden, logits = Transformer(cfg).apply(p, toks, return_hidden=True)`
    then `ValueHead().apply(head_params, hidden)`; set stop_gradient_trunk=True to keep the
    value loss from moving the shared trunk;
  * a separate critic: `Critic(cfg)`, whose params {'trunk': <a Transformer's params>,
    'value_head': ...} can start from the policy checkpoint. Its unused logits are dead code
    that jit removes.

value_loss metrics (float32 scalars): vf_loss; vf_clip_frac (real tokens where the clipped
term is the larger one); value_mean; return_mean; explained_var = 1 - Var(R - V) / Var(R)
(0 when Var(R) is 0).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from r1jax.models.transformer import ModelConfig, Transformer
from r1jax.rl.losses import aggregate, masked_mean, masked_std

Array = jax.Array


class ValueHead(nn.Module):
  """hidden_BxTxD -> values_BxT (float32): linear, or a one-hidden-layer MLP."""
  hidden_dim: int | None = None
  stop_gradient_trunk: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, hidden_BxTxD: Array) -> Array:
    x = hidden_BxTxD.astype(self.dtype)
    if self.stop_gradient_trunk:
      x = jax.lax.stop_gradient(x)
    if self.hidden_dim is not None:
      x = nn.Dense(self.hidden_dim, dtype=self.dtype, param_dtype=self.param_dtype,
                   kernel_init=nn.with_logical_partitioning(
                       nn.initializers.lecun_normal(), ("embed", "mlp")), name="hidden")(x)
      x = nn.gelu(x)
    # Zero init: values start at 0, so early advantages are just the (whitened) returns.
    v = nn.Dense(1, dtype=self.dtype, param_dtype=self.param_dtype,
                 kernel_init=nn.with_logical_partitioning(nn.initializers.zeros,
                                                          ("mlp", None)), name="out")(x)
    return v[..., 0].astype(jnp.float32)


class Critic(nn.Module):
  """A separate value model: a decoder trunk (no shared weights) plus a ValueHead."""
  config: ModelConfig
  head_hidden_dim: int | None = None

  @nn.compact
  def __call__(self, tokens_BxT: Array, positions_BxT: Array | None = None,
               segment_ids_BxT: Array | None = None) -> Array:
    hidden_BxTxD, _ = Transformer(self.config, name="trunk")(
        tokens_BxT, positions_BxT, segment_ids_BxT, return_hidden=True)
    return ValueHead(self.head_hidden_dim, name="value_head")(hidden_BxTxD)


def explained_variance(values_NxT: Array, returns_NxT: Array, mask_NxT: Array) -> Array:
  """1 - Var(R - V) / Var(R) over real tokens (population variances, no gradient); 0 where the
  returns do not vary. Not a mean over tokens: microbatches cannot be averaged into it."""
  m = mask_NxT.astype(bool)
  ret = jax.lax.stop_gradient(returns_NxT.astype(jnp.float32))
  var_ret = jnp.square(masked_std(ret, m))
  var_res = jnp.square(masked_std(ret - jax.lax.stop_gradient(values_NxT), m))
  return jnp.where(var_ret > 0, 1.0 - var_res / jnp.where(var_ret > 0, var_ret, 1.0), 0.0)


def value_loss(values_NxT: Array, old_values_NxT: Array, returns_NxT: Array, mask_NxT: Array,
               clip_eps: float | None = 0.2, aggregation: str = "token_mean",
               norm_len: int | None = None,
               denoms=None) -> tuple[Array, dict[str, Array]]:
  """PPO value loss 0.5 * max((V - R)^2, (V_clip - R)^2), V_clip = V_old + clip(V - V_old).

  clip_eps=None gives the plain squared error. Gradients flow only through values_NxT.
  `denoms`: the optimizer step's counts under gradient accumulation (`losses.aggregate`).
  """
  if clip_eps is not None and clip_eps <= 0:
    raise ValueError(f"value_loss clip_eps={clip_eps} must be > 0 (or None)")
  m = mask_NxT.astype(bool)
  real = lambda x: jnp.where(m, x.astype(jnp.float32), 0.0)
  v = real(values_NxT)
  old_v = jax.lax.stop_gradient(real(old_values_NxT))
  ret = jax.lax.stop_gradient(real(returns_NxT))
  err_NxT = jnp.square(v - ret)
  if clip_eps is None:
    loss_NxT, clipped_NxT = err_NxT, jnp.zeros_like(m)
  else:
    v_clip = old_v + jnp.clip(v - old_v, -clip_eps, clip_eps)
    err_clip_NxT = jnp.square(v_clip - ret)
    loss_NxT, clipped_NxT = jnp.maximum(err_NxT, err_clip_NxT), err_clip_NxT > err_NxT
  loss = 0.5 * aggregate(loss_NxT, m, aggregation, norm_len, denoms)
  metrics = {
      "vf_loss": loss,
      "vf_clip_frac": masked_mean(clipped_NxT.astype(jnp.float32), m),
      "value_mean": masked_mean(jax.lax.stop_gradient(v), m),
      "return_mean": masked_mean(ret, m),
      "explained_var": explained_variance(v, ret, m),
  }
  return loss, metrics
