"""Pure, jit-able pieces of one RL step: log-probs, advantages, the minibatch update.

Shape legend: N rollouts (prompts x group size, group-contiguous), P prompt length (left
padded), T completion length, L = P + T, V vocab, M microbatches.

Each function here is module-level and pure; rl_trainer.py jits them once at the call site
with shardings and donation. Nothing here touches text or the host.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from r1jax.models.transformer import ModelConfig, Transformer
from r1jax.rl import advantages as adv_lib
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
                        positions_NxL, T: int, value_params=None, with_entropy: bool = False,
                        temperature: float = 1.0, critic: str = "shared"):
  """Log-probs of the last T tokens (the completion) under `params`; optional entropy/values.

  Logit at index P-1+t predicts completion token t; with left padding, index P-1 is each row's
  last prompt token. Values are read at the same positions (the state before token t).
  `temperature`: the rollouts were sampled from softmax(logits / T), so the ratio pi/pi_old
  must compare that distribution (else any T != 1 is an uncorrected off-policy gradient).
  `critic`: 'shared' reads a value head on the policy trunk behind a stop-gradient (the value
  loss never moves the policy); 'separate' runs the critic's own trunk (value_params).
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
  if temperature != 1.0:
    logits_NxTxV = logits_NxTxV.astype(jnp.float32) / temperature
  logp_NxT = losses.token_logprobs(logits_NxTxV, tokens_NxL[:, P:])
  entropy_NxT = losses.entropy_from_logits(logits_NxTxV) if with_entropy else None
  values_NxT = None
  if value_params is not None:
    if critic == "separate":
      values_NxT = value_lib.Critic(model_config).apply(
          {"params": value_params}, tokens_NxL, positions_NxL, segment_NxL)[:, P - 1:L - 1]
    else:
      values_NxT = value_lib.ValueHead(stop_gradient_trunk=True).apply(
          {"params": value_params}, hidden_NxLxD[:, P - 1:L - 1])
  return logp_NxT, entropy_NxT, values_NxT


def score_step(params, value_params, tokens_NxL, segment_NxL, positions_NxL, *,
               model_config: ModelConfig, T: int, num_chunks: int = 1,
               temperature: float = 1.0, critic: str = "shared"):
  """Old (or reference) log-probs and old values, without gradients.

  Rows are scored `num_chunks` at a time in a lax.map, so only N / num_chunks rows of
  [L, V] logits are live at once (a 152k vocabulary makes full-batch logits huge).
  """
  def score(chunk):
    tok, seg, pos = chunk
    logp, _, values = completion_logprobs(params, model_config, tok, seg, pos, T, value_params,
                                          temperature=temperature, critic=critic)
    return logp, (jnp.zeros_like(logp) if values is None else values)

  N = tokens_NxL.shape[0]
  chunks = jax.tree.map(lambda x: x.reshape((num_chunks, N // num_chunks) + x.shape[1:]),
                        (tokens_NxL, segment_NxL, positions_NxL))
  logp, values = jax.lax.map(score, chunks)
  return logp.reshape(N, T), values.reshape(N, T)


# Estimators whose rewards live on tokens take a per-token KL penalty; the others see the
# sequence's summed KL subtracted from its outcome reward (RLOO's r(x, y) - beta * KL).
TOKEN_REWARD_ESTIMATORS = ("reinforce_pp", "gae")


def advantage_step(rewards_N, mask_NxT, old_logp_NxT, ref_logp_NxT, values_NxT,
                   step_rewards_NxT, step_mask_NxT, keep_N=None, *, algo: Algorithm, name: str,
                   group_size: int, adv_cfg: adv_lib.AdvantageConfig, kl_in_reward: bool,
                   kl_coef: float, kl_estimator: str):
  """Advantages (and returns) from rewards; the rows that count as a mask.

  keep_N: rows that train (DAPO's selection leaves padding groups at 0); None keeps all.
  With kl_in_reward, beta * KL(pi_old || pi_ref) (estimator `kl_estimator`, no gradient)
  is taken off the rewards before any estimator sees them, for every algorithm.
  """
  kl_NxT = None
  if kl_in_reward and kl_coef > 0:
    kl_NxT = jnp.where(mask_NxT > 0, kl_lib.kl_estimate(old_logp_NxT, ref_logp_NxT,
                                                        kl_estimator), 0.0)
  tok_kl = kl_NxT if name in TOKEN_REWARD_ESTIMATORS else None
  if kl_NxT is not None and name not in TOKEN_REWARD_ESTIMATORS:
    rewards_N = kl_lib.kl_penalized_rewards(rewards_N, kl_NxT, mask_NxT, kl_coef)
  cfg = dataclasses.replace(adv_cfg, kl_coef=kl_coef if tok_kl is not None else 0.0)
  inputs = adv_lib.AdvantageInputs(
      rewards_N=rewards_N, mask_NxT=mask_NxT, group_size=group_size,
      values_NxT=values_NxT if algo.critic else None,
      step_rewards_NxT=step_rewards_NxT if name == "process" else None,
      step_mask_NxT=step_mask_NxT if name == "process" else None,
      kl_NxT=tok_kl, keep_N=keep_N)
  out = adv_lib.compute_advantages(name, inputs, cfg)
  metrics = dict(out.metrics)
  if kl_NxT is not None:
    metrics["kl_penalty"] = kl_coef * losses.masked_mean(kl_NxT, mask_NxT)
  mask = mask_NxT
  if keep_N is not None:
    mask = mask_NxT * keep_N[:, None].astype(mask_NxT.dtype)
  return out.advantages_NxT, out.returns_NxT, mask, metrics


def _microbatches(batch: Rollouts, m: int) -> Rollouts:
  return jax.tree.map(lambda x: x.reshape((m, x.shape[0] // m) + x.shape[1:]), batch)


# How per-microbatch metrics combine into the optimizer step's: loss terms are each a share of
# one loss (global denominators), so they add; extremes take the extreme; counts add; the rest
# are token-weighted means.
_SUMMED = ("loss", "pg_loss", "kl_loss", "entropy_loss", "vf_loss", "num_tokens", "num_seqs")


def _combine_metrics(metrics_M: dict, tokens_M: jax.Array) -> dict:
  w_M = tokens_M / jnp.maximum(jnp.sum(tokens_M), 1.0)
  out = {}
  for k, v in metrics_M.items():
    if k in _SUMMED:
      out[k] = jnp.sum(v)
    elif k.endswith("_min"):
      out[k] = jnp.min(jnp.where(tokens_M > 0, v, jnp.inf))
      out[k] = jnp.where(jnp.any(tokens_M > 0), out[k], 0.0)
    elif k.endswith("_max"):
      out[k] = jnp.max(jnp.where(tokens_M > 0, v, -jnp.inf))
      out[k] = jnp.where(jnp.any(tokens_M > 0), out[k], 0.0)
    else:
      out[k] = jnp.sum(v * w_M)
  return out


def rl_update_step(state: TrainState, batch: Rollouts, rng, *, model_config: ModelConfig,
                   optimizer: optax.GradientTransformation,
                   value_optimizer: optax.GradientTransformation | None, algo: Algorithm,
                   loss_cfg: losses.LossConfig, vf_coef: float, vf_clip: float | None,
                   num_microbatches: int, use_ref: bool, temperature: float, critic: str,
                   old_is_current: bool, update_policy: bool = True):
  """One optimizer step on a minibatch, gradients accumulated over `num_microbatches`.

  Every loss is normalised by the counts of the whole minibatch (tokens, sequences, rows:
  `losses.Denominators`) and the microbatch gradients are summed, so M microbatches give the
  gradient of the one full-batch loss (TRL's and veRL's global token normalisation); a fully
  masked microbatch adds exactly zero. `update_policy=False` trains only the critic (PPO's
  critic warm-up). `old_is_current`: batch.old_logp_NxT is not read; the old log-probs are
  this forward's own behind a stop-gradient (exact for one optimizer step per rollout batch).
  """
  del rng
  T = batch.mask_NxT.shape[1]
  trainables = {"policy": state.params, "value": state.value_params}
  denoms = losses.denominators(batch.mask_NxT)

  def loss_fn(tr, mb: Rollouts):
    logp, entropy, values = completion_logprobs(
        tr["policy"], model_config, mb.tokens_NxL, mb.segment_NxL, mb.positions_NxL, T,
        tr["value"], with_entropy=True, temperature=temperature, critic=critic)
    old_logp = jax.lax.stop_gradient(logp) if old_is_current else mb.old_logp_NxT
    loss, metrics = losses.policy_loss(
        algo.policy_loss, logp, old_logp, mb.advantages_NxT, mb.mask_NxT, loss_cfg,
        ref_logp_NxT=mb.ref_logp_NxT if use_ref else None, entropy_NxT=entropy,
        denoms=denoms)
    if not update_policy:
      loss = jnp.zeros((), jnp.float32)
    if values is not None:
      vf, vf_metrics = value_lib.value_loss(values, mb.old_values_NxT, mb.returns_NxT,
                                            mb.mask_NxT, vf_clip, loss_cfg.aggregation,
                                            loss_cfg.norm_len, denoms=denoms)
      loss = loss + vf_coef * vf
      metrics = {**metrics, **vf_metrics, "loss": loss}
    return loss, (metrics, values)

  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

  def accumulate(g_acc, mb):
    (_, aux), g = grad_fn(trainables, mb)
    return jax.tree.map(jnp.add, g_acc, g), aux

  mbs = _microbatches(batch, num_microbatches)
  zeros_g = jax.tree.map(jnp.zeros_like, trainables)
  grads, (metrics_M, values_M) = jax.lax.scan(accumulate, zeros_g, mbs)
  metrics = _combine_metrics(metrics_M, metrics_M["num_tokens"])
  # Spreads are not token-weighted means of the microbatches' spreads: take them on the whole
  # minibatch (exact for any num_microbatches).
  metrics["adv_std"] = losses.masked_std(batch.advantages_NxT, batch.mask_NxT)
  if values_M is not None:
    metrics["explained_var"] = value_lib.explained_variance(
        values_M.reshape(batch.mask_NxT.shape), batch.returns_NxT, batch.mask_NxT)

  params, opt_state = state.params, state.opt_state
  if update_policy:
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


def value_init(model_config: ModelConfig, critic: str):
  """init(rng, policy_params) -> value params for PPO.

  'shared': a ValueHead read on the policy trunk (behind a stop-gradient); 'separate': a
  Critic whose own trunk starts as a copy of the policy's (as OpenRLHF/veRL start the critic
  from the actor or reward model), plus a fresh head.
  """
  def init(rng, policy_params):
    hidden = jnp.zeros((1, 1, model_config.d_model), jnp.float32)
    head = nn.meta.unbox(value_lib.ValueHead().init(rng, hidden)["params"])
    if critic == "shared":
      return head
    return {"trunk": jax.tree.map(jnp.copy, policy_params), "value_head": head}
  return init
