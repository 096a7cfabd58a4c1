"""KL to a frozen reference policy: per-token estimators and the reward-penalty form.

Shape legend: N completions (num_prompts * G, groups contiguous), T completion tokens.
All log-probabilities are of the sampled tokens (from `losses.token_logprobs`).

With r = pi_ref / pi_theta evaluated at the sampled token, i.e. log r = ref_logp - logp:
  k1 = -log r                 (unbiased, can be negative, noisy)
  k2 = 0.5 * (log r)^2        (biased, low variance; its gradient is the true KL gradient)
  k3 = r - log r - 1          (unbiased, >= 0, zero value and zero gradient at r = 1; GRPO's;
                               clamped at MAX_K3 as veRL does)

The two ways to use KL:
  * as a loss term: `losses.LossConfig(kl_coef=beta, kl_in_loss=True)` adds beta * KL_t to
    every token's loss (DeepSeekMath GRPO);
  * as a reward penalty: `kl_penalized_token_rewards` (REINFORCE++, PPO) folds -beta * KL_t into
    the token rewards, or `kl_penalized_rewards` subtracts beta * sum_t KL_t from the outcome
    reward. Compute the penalty from the sampling policy's log-probs; it carries no gradient.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array

# exp(20) ~ 5e8: one token whose policy drifted absurdly far cannot overflow float32 into an
# inf/NaN loss; within +-20 nats the estimators are exact.
MAX_LOG_RATIO = 20.0
# k3 grows like exp(log r): a handful of tokens the policy has left far behind would dominate a
# batch's KL term. veRL clamps k3 to [-10, 10]; so do we (k3 >= 0, so only the top binds).
MAX_K3 = 10.0


def _k1(log_r_NxT: Array) -> Array:
  return -log_r_NxT


def _k2(log_r_NxT: Array) -> Array:
  return 0.5 * jnp.square(log_r_NxT)


def _k3(log_r_NxT: Array) -> Array:
  # expm1 keeps precision when r is close to 1, where the value is O((log r)^2).
  return jnp.minimum(jnp.expm1(log_r_NxT) - log_r_NxT, MAX_K3)


KL_ESTIMATORS = {"k1": _k1, "k2": _k2, "k3": _k3}


def kl_estimate(logp_NxT: Array, ref_logp_NxT: Array, kind: str = "k3") -> Array:
  """Per-token KL(pi_theta || pi_ref) estimate, float32 [N, T]; differentiable in logp_NxT.

  Not masked: callers reduce it with the completion mask (padding may hold any value).
  """
  if kind not in KL_ESTIMATORS:
    raise ValueError(f"kl estimator kind={kind!r}; expected one of {sorted(KL_ESTIMATORS)}")
  log_r = ref_logp_NxT.astype(jnp.float32) - logp_NxT.astype(jnp.float32)
  log_r = jnp.clip(log_r, -MAX_LOG_RATIO, MAX_LOG_RATIO)
  return KL_ESTIMATORS[kind](log_r)


def last_token_onehot(mask_NxT: Array) -> Array:
  """1.0 at each row's last real token, 0 elsewhere (an all-zero row for an empty row)."""
  m = mask_NxT.astype(bool)
  T = m.shape[1]
  last_N = T - 1 - jnp.argmax(m[:, ::-1], axis=1)
  onehot = jax.nn.one_hot(last_N, T, dtype=jnp.float32)
  return onehot * jnp.any(m, axis=1, keepdims=True)


def kl_penalized_token_rewards(rewards_N: Array, mask_NxT: Array, kl_NxT: Array | None = None,
                               kl_coef: float = 0.0) -> Array:
  """Token rewards: outcome reward at the last real token, minus kl_coef * KL_t at every token.

  This is the reward-penalty mode (REINFORCE++, InstructGPT-style PPO). The KL is stopped from
  carrying gradient: it is part of the reward, not of the objective's differentiable path.
  Padding positions are zero.
  """
  m = mask_NxT.astype(bool)
  r_NxT = rewards_N.astype(jnp.float32)[:, None] * last_token_onehot(mask_NxT)
  if kl_NxT is not None:
    r_NxT = r_NxT - kl_coef * jax.lax.stop_gradient(kl_NxT.astype(jnp.float32))
  return jnp.where(m, r_NxT, 0.0)


def kl_penalized_rewards(rewards_N: Array, kl_NxT: Array, mask_NxT: Array,
                         kl_coef: float) -> Array:
  """Outcome rewards minus kl_coef * (sum of per-token KL over real tokens); no gradient."""
  kl_NxT = jax.lax.stop_gradient(kl_NxT.astype(jnp.float32))
  kl_NxT = jnp.where(mask_NxT.astype(bool), kl_NxT, 0.0)
  kl_N = jnp.sum(kl_NxT, axis=1)
  return rewards_N.astype(jnp.float32) - kl_coef * kl_N
