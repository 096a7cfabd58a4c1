"""Pure, jit-able pieces of one RL step: log-probs, advantages, the minibatch update.

Shape legend: N rollouts (prompts x group size, group-contiguous), P prompt length (left
padded), T completion length, L = P + T, V vocab, M microbatches.

Each function here is module-level and pure; rl_trainer.py jits them once at the call site
with shardings and donation. Nothing here touches text or the host.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from r1jax.models.transformer import ModelConfig, Transformer
from r1jax.rl import advantages as adv_lib
from r1jax.rl import filtering
from r1jax.rl import kl as kl_lib
from r1jax.rl import losses
from r1jax.rl import value as value_lib
from r1jax.rl.algorithms import Algorithm
from r1jax.train.state import TrainState


class Rollouts(NamedTuple):
  """Everything the update needs, on device. Sequences are prompt (left-padded) + completion."""
  tokens_NxL: jax.Array  # int32
  segment_NxL: jax.Array  # int32, 0 = padding
  positions_NxL: jax.Array  # int32 RoPE positions
  mask_NxT: jax.Array  # float32 loss mask over completion tokens
  old_logp_NxT: jax.Array
  ref_logp_NxT: jax.Array
  advantages_NxT: jax.Array
  returns_NxT: jax.Array
  old_values_NxT: jax.Array


def sequences(prompt_tokens_BxP, prompt_mask_BxP, completion_NxT, completion_mask_NxT, n: int):
  """Concatenates each prompt (repeated n times) with its completions: tokens, segments, pos."""
  prompt_NxP = jnp.repeat(prompt_tokens_BxP, n, axis=0)
  pmask_NxP = jnp.repeat(prompt_mask_BxP, n, axis=0).astype(jnp.int32)
  plen_N = jnp.sum(pmask_NxP, axis=1)
  T = completion_NxT.shape[1]
  tokens_NxL = jnp.concatenate([prompt_NxP, completion_NxT], axis=1).astype(jnp.int32)
  segment_NxL = jnp.concatenate([pmask_NxP, completion_mask_NxT.astype(jnp.int32)], axis=1)
  prompt_pos = jnp.maximum(jnp.cumsum(pmask_NxP, axis=1) - 1, 0)
  comp_pos = plen_N[:, None] + jnp.arange(T, dtype=jnp.int32)[None]
  positions_NxL = jnp.concatenate([prompt_pos, comp_pos], axis=1).astype(jnp.int32)
  return tokens_NxL, segment_NxL, positions_NxL


def completion_logprobs(params, model_config: ModelConfig, tokens_NxL, segment_NxL,
                        positions_NxL, T: int, value_params=None, with_entropy: bool = False):
  """Log-probs of the last T tokens (the completion) under `params`; optional entropy/values.

  Logit at index P-1+t predicts completion token t; with left padding, index P-1 is each row's
  last prompt token. Values are read at the same positions (the state before token t).
  """
  L = tokens_NxL.shape[1]
  P = L - T
  # Each row is one run of real tokens (left-padded prompt, completion, right padding), so the
  # fused attention kernels can use a plain causal mask (models/attention.py); outputs at
  # padding positions are masked out of every loss and of GAE.
  hidden_NxLxD, logits_NxLxV = Transformer(model_config).apply(
      {"params": params}, tokens_NxL, positions_NxL, segment_NxL, return_hidden=True,
      single_segment=True)
  logits_NxTxV = logits_NxLxV[:, P - 1:L - 1]
  logp_NxT = losses.token_logprobs(logits_NxTxV, tokens_NxL[:, P:])
  entropy_NxT = losses.entropy_from_logits(logits_NxTxV) if with_entropy else None
  values_NxT = None
  if value_params is not None:
    values_NxT = value_lib.ValueHead().apply({"params": value_params},
                                             hidden_NxLxD[:, P - 1:L - 1])
  return logp_NxT, entropy_NxT, values_NxT


def score_step(params, value_params, tokens_NxL, segment_NxL, positions_NxL, *,
               model_config: ModelConfig, T: int, num_chunks: int = 1):
  """Old (or reference) log-probs and old values, without gradients.

  Rows are scored `num_chunks` at a time in a lax.map, so only N / num_chunks rows of
  [L, V] logits are live at once (a 152k vocabulary makes full-batch logits huge).
  """
  def score(chunk):
    tok, seg, pos = chunk
    logp, _, values = completion_logprobs(params, model_config, tok, seg, pos, T, value_params)
    return logp, (jnp.zeros_like(logp) if values is None else values)

  N = tokens_NxL.shape[0]
  chunks = jax.tree.map(lambda x: x.reshape((num_chunks, N // num_chunks) + x.shape[1:]),
                        (tokens_NxL, segment_NxL, positions_NxL))
  logp, values = jax.lax.map(score, chunks)
  return logp.reshape(N, T), values.reshape(N, T)


def advantage_step(rewards_N, mask_NxT, old_logp_NxT, ref_logp_NxT, values_NxT,
                   step_rewards_NxT, *, algo: Algorithm, name: str, group_size: int,
                   adv_cfg: adv_lib.AdvantageConfig, kl_estimator: str):
  """Advantages (and returns) from rewards; DAPO's group filter as a keep mask."""
  keep_N, num_dropped = None, jnp.zeros((), jnp.float32)
  if algo.dynamic_sampling:
    keep_N, num_dropped = filtering.group_keep_mask(rewards_N, group_size)
  kl_NxT = None
  if algo.kl_in_reward:
    kl_NxT = kl_lib.kl_estimate(old_logp_NxT, ref_logp_NxT, kl_estimator)
  inputs = adv_lib.AdvantageInputs(
      rewards_N=rewards_N, mask_NxT=mask_NxT, group_size=group_size,
      values_NxT=values_NxT if algo.critic else None,
      step_rewards_NxT=step_rewards_NxT if name == "process" else None,
      kl_NxT=kl_NxT, keep_N=keep_N)
  out = adv_lib.compute_advantages(name, inputs, adv_cfg)
  metrics = dict(out.metrics)
  metrics["dropped_groups"] = jnp.asarray(num_dropped, jnp.float32)
  mask = mask_NxT
  if keep_N is not None:
    mask = mask_NxT * keep_N[:, None].astype(mask_NxT.dtype)
  return out.advantages_NxT, out.returns_NxT, mask, metrics


def _microbatches(batch: Rollouts, m: int) -> Rollouts:
  return jax.tree.map(lambda x: x.reshape((m, x.shape[0] // m) + x.shape[1:]), batch)


def rl_update_step(state: TrainState, batch: Rollouts, rng, *, model_config: ModelConfig,
                   optimizer: optax.GradientTransformation,
                   value_optimizer: optax.GradientTransformation | None, algo: Algorithm,
                   loss_cfg: losses.LossConfig, vf_coef: float, vf_clip: float | None,
                   num_microbatches: int, use_ref: bool):
  """One optimizer step on a minibatch, gradients accumulated over `num_microbatches`.

  Metrics are means over microbatches. With 'token_mean' aggregation each microbatch is
  normalised by its own token count (the usual gradient-accumulation approximation).
  """
  del rng
  T = batch.mask_NxT.shape[1]
  trainables = {"policy": state.params, "value": state.value_params}

  def loss_fn(tr, mb: Rollouts):
    logp, entropy, values = completion_logprobs(
        tr["policy"], model_config, mb.tokens_NxL, mb.segment_NxL, mb.positions_NxL, T,
        tr["value"], with_entropy=True)
    loss, metrics = losses.policy_loss(
        algo.policy_loss, logp, mb.old_logp_NxT, mb.advantages_NxT, mb.mask_NxT, loss_cfg,
        ref_logp_NxT=mb.ref_logp_NxT if use_ref else None, entropy_NxT=entropy)
    if values is not None:
      vf, vf_metrics = value_lib.value_loss(values, mb.old_values_NxT, mb.returns_NxT,
                                            mb.mask_NxT, vf_clip, loss_cfg.aggregation,
                                            loss_cfg.norm_len)
      loss = loss + vf_coef * vf
      metrics = {**metrics, **vf_metrics, "loss": loss}
    return loss, metrics

  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

  def accumulate(carry, mb):
    g_acc, m_acc = carry
    (_, metrics), g = grad_fn(trainables, mb)
    return (jax.tree.map(jnp.add, g_acc, g), jax.tree.map(jnp.add, m_acc, metrics)), None

  mbs = _microbatches(batch, num_microbatches)
  first = jax.tree.map(lambda x: x[0], mbs)
  metric_shapes = jax.eval_shape(lambda: grad_fn(trainables, first)[0][1])
  zeros_g = jax.tree.map(jnp.zeros_like, trainables)
  zeros_m = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), metric_shapes)
  (grads, metrics), _ = jax.lax.scan(accumulate, (zeros_g, zeros_m), mbs)
  grads = jax.tree.map(lambda g: g / num_microbatches, grads)
  metrics = jax.tree.map(lambda v: v / num_microbatches, metrics)

  updates, opt_state = optimizer.update(grads["policy"], state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  value_params, value_opt_state = state.value_params, state.value_opt_state
  if value_optimizer is not None and value_params is not None:
    v_updates, value_opt_state = value_optimizer.update(grads["value"], value_opt_state,
                                                        value_params)
    value_params = optax.apply_updates(value_params, v_updates)
  metrics["grad_norm"] = optax.global_norm(grads["policy"])
  new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                            value_params=value_params, value_opt_state=value_opt_state)
  return new_state, metrics


def value_head_init(model_config: ModelConfig):
  """Init fn for a ValueHead on the policy trunk's hidden states (PPO)."""
  def init(rng):
    hidden = jnp.zeros((1, 1, model_config.d_model), jnp.float32)
    return nn.meta.unbox(value_lib.ValueHead().init(rng, hidden)["params"])
  return init


def tree_finite(tree: Any) -> jax.Array:
  return jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))
