"""Policy-gradient losses for the GRPO family and PPO, as pure functions of masked arrays.

Shape legend: N completions (num_prompts * G; each group of G contiguous), T completion tokens,
V vocabulary. `mask_NxT` is 1 (or True) at real completion tokens; padding never contributes to
a loss, a gradient or a metric, and a fully masked batch gives zeros, not NaN.

The trainer calls
  loss, metrics = policy_loss(name, logp_NxT, old_logp_NxT, advantages_NxT, mask_NxT, cfg,
                              ref_logp_NxT=None, entropy_NxT=None)
with `name` a key of POLICY_LOSSES:
  'ppo_clip'  token ratio r_t = pi/pi_old, loss max(-A r, -A clip(r, 1-eps_low, 1+eps_high)),
              optionally dual-clipped for A < 0 at c * |A| (DAPO clip-higher when
              eps_high > eps_low; the DeepSeekMath GRPO surrogate);
  'gspo'      the same surrogate on the sequence ratio s_i = exp(mean_t log r_{i,t}) (GSPO),
              written per token so that token advantages work; with aggregation
              'seq_mean_token_mean' it is exactly GSPO's sequence-level objective and gradient.
The per-token loss pg_t + kl_coef * KL_t - entropy_coef * H_t is reduced by `aggregate`:
  'token_mean'               sum over all real tokens / number of real tokens (DAPO);
  'seq_mean_token_mean'      mean over sequences of each sequence's token mean (GRPO);
  'seq_mean_token_sum_norm'  token sum / (norm_len * number of rows) (Dr. GRPO: no
                             per-sequence length normalisation and a constant divisor, so
                             filtered rows still count; norm_len defaults to T).
"Sequences" (seq_mean_token_mean) are rows with at least one real token, so filtered rows do
not dilute that mean. Under gradient accumulation the trainer passes the counts of the whole
optimizer step (`Denominators`), so M microbatches sum to exactly the full batch's loss.

Metrics returned by `policy_loss` (all float32 scalars; token fractions are over real tokens):
  | name           | meaning                                                              |
  |----------------|----------------------------------------------------------------------|
  | loss           | the optimised scalar = pg_loss + kl_loss + entropy_loss              |
  | pg_loss        | aggregated clipped-surrogate term                                    |
  | kl             | token mean of KL(pi || pi_ref) with cfg.kl_estimator (0 w/o ref)     |
  | kl_loss        | kl_coef * aggregated KL when kl_in_loss, else 0                      |
  | entropy        | token mean of the policy entropy (0 when entropy_NxT is None)        |
  | entropy_loss   | -entropy_coef * aggregated entropy (the entropy bonus)               |
  | clip_frac_low  | tokens with A < 0 and ratio < 1 - eps_low (gradient clipped to 0)    |
  | clip_frac_high | tokens with A > 0 and ratio > 1 + eps_high (gradient clipped to 0)   |
  | clip_frac      | clip_frac_low + clip_frac_high                                       |
  | dual_clip_frac | tokens with A < 0 and ratio > c: loss capped at c * |A|, gradient 0  |
  | approx_kl      | token mean of the k3 estimate of KL(pi_old || pi): the update's size |
  | ratio_mean     | token mean of the ratio used for clipping (sequence ratio for gspo)  |
  | ratio_min      | its minimum over real tokens                                         |
  | ratio_max      | its maximum over real tokens                                         |
  | adv_mean       | token mean of the advantages                                         |
  | adv_std        | token std (population) of the advantages                             |
  | num_tokens     | number of real tokens                                                |
  | num_seqs       | number of rows with at least one real token                          |
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from r1jax.rl import kl as kl_lib

Array = jax.Array

AGGREGATIONS = ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm")


@dataclasses.dataclass(frozen=True)
class LossConfig:
  """Policy-loss options; validated on construction, errors name the field."""
  eps_low: float = 0.2
  eps_high: float = 0.2  # DAPO clip-higher: 0.28. GSPO uses ~3e-4 / 4e-4.
  dual_clip_c: float | None = None  # e.g. 3.0; None disables the dual clip.
  aggregation: str = "token_mean"
  norm_len: int | None = None  # Dr. GRPO constant; None = T, the padded completion length.
  kl_coef: float = 0.0
  kl_estimator: str = "k3"
  kl_in_loss: bool = True  # False: KL is only reported (use kl.py's reward-penalty helpers).
  entropy_coef: float = 0.0

  def __post_init__(self):
    if not 0.0 <= self.eps_low < 1.0:
      raise ValueError(f"LossConfig.eps_low={self.eps_low} must be in [0, 1)")
    if self.eps_high < 0.0:
      raise ValueError(f"LossConfig.eps_high={self.eps_high} must be >= 0")
    if self.dual_clip_c is not None and self.dual_clip_c <= 1.0:
      raise ValueError(f"LossConfig.dual_clip_c={self.dual_clip_c} must be > 1 (or None)")
    if self.aggregation not in AGGREGATIONS:
      raise ValueError(f"LossConfig.aggregation={self.aggregation!r}; expected one of "
                       f"{AGGREGATIONS}")
    if self.norm_len is not None and self.norm_len <= 0:
      raise ValueError(f"LossConfig.norm_len={self.norm_len} must be > 0 (or None)")
    if self.kl_coef < 0.0:
      raise ValueError(f"LossConfig.kl_coef={self.kl_coef} must be >= 0")
    if self.kl_estimator not in kl_lib.KL_ESTIMATORS:
      raise ValueError(f"LossConfig.kl_estimator={self.kl_estimator!r}; expected one of "
                       f"{sorted(kl_lib.KL_ESTIMATORS)}")
    if self.kl_in_loss and self.kl_coef > 0 and self.kl_estimator == "k1":
      # k1 = log pi - log pi_ref has expected gradient E_pi[grad log pi] = 0 on samples from
      # pi: as a loss term it only adds noise. It belongs in the reward (kl_placement).
      raise ValueError("LossConfig.kl_estimator='k1' cannot be a loss term (its expected "
                       "gradient is zero); use k2 or k3, or put the KL in the reward")


def masked_mean(x: Array, mask: Array, axis=None) -> Array:
  """Mean of x over mask (float32); 0 where the mask is empty. Masked-out x may be NaN."""
  m = mask.astype(bool)
  total = jnp.sum(jnp.where(m, x.astype(jnp.float32), 0.0), axis=axis)
  count = jnp.sum(m, axis=axis, dtype=jnp.float32)
  return total / jnp.maximum(count, 1.0)


def masked_std(x: Array, mask: Array, axis=None) -> Array:
  """Population standard deviation of x over mask; 0 where the mask is empty."""
  mean = masked_mean(x, mask, axis=axis)
  if axis is not None:
    mean = jnp.expand_dims(mean, axis)
  return jnp.sqrt(masked_mean(jnp.square(x - mean), mask, axis=axis))


class Denominators(NamedTuple):
  """What `aggregate` divides by. Pass the counts of the whole optimizer step when a step's
  loss is summed over microbatches (gradient accumulation): each microbatch then contributes
  its share of one loss, never a 1/M-weighted mean of per-microbatch means.

  num_tokens: real tokens (token_mean); num_seqs: rows with >= 1 real token
  (seq_mean_token_mean); num_rows: every row, filtered or not (seq_mean_token_sum_norm: Dr.
  GRPO's divisor is a constant, so filtering rows must not change it).
  """
  num_tokens: Array
  num_seqs: Array
  num_rows: Array


def denominators(mask_NxT: Array) -> Denominators:
  """The counts of one batch (float32 scalars), for `aggregate`."""
  m = mask_NxT.astype(bool)
  return Denominators(num_tokens=jnp.sum(m, dtype=jnp.float32),
                      num_seqs=jnp.sum(jnp.any(m, axis=1), dtype=jnp.float32),
                      num_rows=jnp.asarray(m.shape[0], jnp.float32))


def aggregate(loss_NxT: Array, mask_NxT: Array, mode: str, norm_len: int | None = None,
              denoms: Denominators | None = None) -> Array:
  """Reduces a per-token loss to a scalar; see the module docstring for the modes.

  `denoms` defaults to this batch's own counts; an empty batch gives 0, never NaN.
  """
  m = mask_NxT.astype(bool)
  d = denominators(m) if denoms is None else denoms
  sums_N = jnp.sum(jnp.where(m, loss_NxT.astype(jnp.float32), 0.0), axis=1)
  if mode == "token_mean":
    return jnp.sum(sums_N) / jnp.maximum(d.num_tokens, 1.0)
  lens_N = jnp.sum(m, axis=1, dtype=jnp.float32)
  if mode == "seq_mean_token_mean":
    return jnp.sum(sums_N / jnp.maximum(lens_N, 1.0)) / jnp.maximum(d.num_seqs, 1.0)
  if mode == "seq_mean_token_sum_norm":
    norm = float(loss_NxT.shape[1] if norm_len is None else norm_len)
    return jnp.sum(sums_N) / (norm * jnp.maximum(d.num_rows, 1.0))
  raise ValueError(f"aggregation mode={mode!r}; expected one of {AGGREGATIONS}")


def token_logprobs(logits_NxTxV: Array, tokens_NxT: Array) -> Array:
  """log softmax(logits)[token] in float32; logits at t must already score tokens at t."""
  logits = logits_NxTxV.astype(jnp.float32)
  picked_NxT = jnp.take_along_axis(logits, tokens_NxT[..., None].astype(jnp.int32), axis=-1)
  return picked_NxT[..., 0] - jax.nn.logsumexp(logits, axis=-1)


def entropy_from_logits(logits_NxTxV: Array) -> Array:
  """Entropy of softmax(logits) per position, float32; -inf logits (masked vocab) are fine."""
  logits = logits_NxTxV.astype(jnp.float32)
  logp = logits - jax.nn.logsumexp(logits, axis=-1, keepdims=True)
  p = jnp.exp(logp)
  # 0 * -inf would be NaN (also in the backward pass), so zero-probability terms read logp 0.
  safe_logp = jnp.where(p > 0.0, logp, 0.0)
  return -jnp.sum(p * safe_logp, axis=-1)


def _clipped_surrogate(ratio_NxT: Array, adv_NxT: Array, cfg: LossConfig) -> Array:
  """Per-token PPO loss on a given ratio, with eps_low/eps_high and the optional dual clip."""
  clipped = jnp.clip(ratio_NxT, 1.0 - cfg.eps_low, 1.0 + cfg.eps_high)
  loss = jnp.maximum(-adv_NxT * ratio_NxT, -adv_NxT * clipped)
  if cfg.dual_clip_c is not None:
    # For A < 0 the clipped loss -A r grows without bound in r; cap it at c * |A|.
    loss = jnp.where(adv_NxT < 0, jnp.minimum(loss, -adv_NxT * cfg.dual_clip_c), loss)
  return loss


def _log_ratio(logp_NxT: Array, old_logp_NxT: Array) -> Array:
  # Clamped like the KL estimators so one far-drifted token cannot overflow exp().
  return jnp.clip(logp_NxT - old_logp_NxT, -kl_lib.MAX_LOG_RATIO, kl_lib.MAX_LOG_RATIO)


def ppo_clip(logp_NxT, old_logp_NxT, adv_NxT, mask_NxT, cfg):
  """Token-ratio clipped surrogate. Returns (pg_loss_NxT, ratio_NxT)."""
  del mask_NxT  # Token-local; masking happens in aggregation.
  ratio_NxT = jnp.exp(_log_ratio(logp_NxT, old_logp_NxT))
  return _clipped_surrogate(ratio_NxT, adv_NxT, cfg), ratio_NxT


def gspo(logp_NxT, old_logp_NxT, adv_NxT, mask_NxT, cfg):
  """Sequence-ratio clipped surrogate (GSPO-token form). Returns (pg_loss_NxT, ratio_NxT).

  Every token of sequence i carries the value s_i but the gradient s_i * grad log pi(y_t), so
  the seq-mean-token-mean of the loss has gradient A_i * grad s_i, GSPO's sequence gradient.
  """
  m = mask_NxT.astype(bool)
  log_r_NxT = jnp.where(m, _log_ratio(logp_NxT, old_logp_NxT), 0.0)
  seq_log_ratio_N = masked_mean(log_r_NxT, m, axis=1)
  log_s_NxT = (jax.lax.stop_gradient(seq_log_ratio_N)[:, None] + logp_NxT
               - jax.lax.stop_gradient(logp_NxT))
  ratio_NxT = jnp.exp(log_s_NxT)
  return _clipped_surrogate(ratio_NxT, adv_NxT, cfg), ratio_NxT


POLICY_LOSSES = {"ppo_clip": ppo_clip, "gspo": gspo}


def _masked_extreme(x_NxT: Array, m_NxT: Array, fn, fill: float) -> Array:
  out = fn(jnp.where(m_NxT, x_NxT, fill))
  return jnp.where(jnp.any(m_NxT), out, 0.0)


def policy_loss(name: str, logp_NxT: Array, old_logp_NxT: Array, advantages_NxT: Array,
                mask_NxT: Array, cfg: LossConfig, ref_logp_NxT: Array | None = None,
                entropy_NxT: Array | None = None,
                denoms: Denominators | None = None) -> tuple[Array, dict[str, Array]]:
  """Scalar loss (to minimise) and the metrics of the module docstring.

  Gradients flow only through logp_NxT (and entropy_NxT); old log-probs, advantages and the
  reference are treated as constants. `denoms`: see `aggregate` (default: this batch's).
  """
  if name not in POLICY_LOSSES:
    raise ValueError(f"policy loss name={name!r}; expected one of {sorted(POLICY_LOSSES)}")
  if cfg.kl_in_loss and cfg.kl_coef > 0 and ref_logp_NxT is None:
    raise ValueError("LossConfig.kl_coef > 0 with kl_in_loss=True needs ref_logp_NxT")
  if cfg.entropy_coef != 0 and entropy_NxT is None:
    raise ValueError("LossConfig.entropy_coef != 0 needs entropy_NxT")
  m = mask_NxT.astype(bool)
  # Zeroing padding first keeps any inf/NaN there out of both the values and the gradients.
  real = lambda x: jnp.where(m, x.astype(jnp.float32), 0.0)
  logp_NxT = real(logp_NxT)
  old_logp_NxT = jax.lax.stop_gradient(real(old_logp_NxT))
  adv_NxT = jax.lax.stop_gradient(real(advantages_NxT))
  agg = lambda x: aggregate(x, m, cfg.aggregation, cfg.norm_len, denoms)
  zero = jnp.zeros((), jnp.float32)

  pg_NxT, ratio_NxT = POLICY_LOSSES[name](logp_NxT, old_logp_NxT, adv_NxT, m, cfg)
  pg_loss = agg(pg_NxT)

  kl, kl_loss = zero, zero
  if ref_logp_NxT is not None:
    kl_NxT = kl_lib.kl_estimate(logp_NxT, jax.lax.stop_gradient(real(ref_logp_NxT)),
                                cfg.kl_estimator)
    kl = jax.lax.stop_gradient(masked_mean(kl_NxT, m))
    if cfg.kl_in_loss:
      kl_loss = cfg.kl_coef * agg(kl_NxT)

  entropy, entropy_loss = zero, zero
  if entropy_NxT is not None:
    entropy_NxT = real(entropy_NxT)
    entropy = jax.lax.stop_gradient(masked_mean(entropy_NxT, m))
    if cfg.entropy_coef != 0:
      entropy_loss = -cfg.entropy_coef * agg(entropy_NxT)

  loss = pg_loss + kl_loss + entropy_loss

  ratio = jax.lax.stop_gradient(ratio_NxT)
  frac = lambda cond: masked_mean(cond.astype(jnp.float32), m)
  clip_frac_low = frac((adv_NxT < 0) & (ratio < 1.0 - cfg.eps_low))
  clip_frac_high = frac((adv_NxT > 0) & (ratio > 1.0 + cfg.eps_high))
  if cfg.dual_clip_c is None:
    dual_clip_frac = zero
  else:
    dual_clip_frac = frac((adv_NxT < 0) & (ratio > cfg.dual_clip_c))
  # k3 with r = pi / pi_old on tokens sampled from pi_old estimates KL(pi_old || pi).
  approx_kl = masked_mean(kl_lib.kl_estimate(old_logp_NxT, jax.lax.stop_gradient(logp_NxT),
                                             "k3"), m)
  metrics = {
      "loss": loss,
      "pg_loss": pg_loss,
      "kl": kl,
      "kl_loss": kl_loss,
      "entropy": entropy,
      "entropy_loss": entropy_loss,
      "clip_frac_low": clip_frac_low,
      "clip_frac_high": clip_frac_high,
      "clip_frac": clip_frac_low + clip_frac_high,
      "dual_clip_frac": dual_clip_frac,
      "approx_kl": approx_kl,
      "ratio_mean": masked_mean(ratio, m),
      "ratio_min": _masked_extreme(ratio, m, jnp.min, jnp.inf),
      "ratio_max": _masked_extreme(ratio, m, jnp.max, -jnp.inf),
      "adv_mean": masked_mean(adv_NxT, m),
      "adv_std": masked_std(adv_NxT, m),
      "num_tokens": jnp.sum(m, dtype=jnp.float32),
      "num_seqs": jnp.sum(jnp.any(m, axis=1), dtype=jnp.float32),
  }
  return loss, metrics
