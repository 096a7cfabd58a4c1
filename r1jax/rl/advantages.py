"""Advantage estimators (registry ADVANTAGES), pure functions of masked arrays.

Shape legend: N completions = num_prompts (P) * G, each group of G contiguous (rows
g*G .. g*G+G-1 answer prompt g); T completion tokens. `mask_NxT` is 1 at real completion tokens.

  out = compute_advantages(name, AdvantageInputs(rewards_N, mask_NxT, group_size, ...), cfg)
  out.advantages_NxT, out.returns_NxT, out.metrics

| name         | advantage of token t of completion i                                          |
|--------------|-------------------------------------------------------------------------------|
| grpo         | (R_i - mean) / (std + eps), stats per group (cfg.grpo_norm picks the scope:   |
|              | 'group'; 'batch' = mean and std of the batch; 'group_mean_batch_std' = group  |
|              | mean, batch std, what TRL calls scale_rewards='batch')                        |
| dr_grpo      | R_i - mean over the group (Dr. GRPO: no std)                                  |
| rloo         | R_i - mean of the other G-1 rewards of the group                              |
| reinforce_pp | sum_{s>=t} gamma^(s-t) r_s, r = outcome at the last token - kl_coef * KL_s,   |
|              | then normalised over all real tokens of the batch (REINFORCE++)               |
| gae          | GAE(gamma, lambda) on the same token rewards with values V; returns = A + V;  |
|              | advantages whitened over the batch when cfg.whiten (PPO)                      |
| process      | step rewards normalised over all steps of the group, then summed over the     |
|              | steps ending at or after t (DeepSeekMath process supervision), plus the       |
|              | group-normalised outcome reward when cfg.add_outcome                          |

`returns_NxT` is the un-normalised reward-to-go: R_i at every token for the outcome estimators,
the discounted KL-penalised return for reinforce_pp, the value target A + V for gae, and the sum
of future raw step rewards (+ R_i) for process. Every std is the sample std (ddof 1, as TRL and
verl); a statistic over an empty set is 0 and the denominators are std + epsilon, so fully
masked rows, groups or batches give zeros. Rows with keep_N = 0 (e.g. DAPO-filtered groups)
get zero advantages and are left out of batch statistics; group statistics always use all G
rewards, since every completion of a group was really sampled.

Metrics (float32 scalars; stds here are population stds): reward_mean, reward_std (over kept
rows), adv_mean, adv_std, adv_min, adv_max, return_mean (over real tokens of kept rows), and
within_completion_std: the mean over kept completions of the std of their per-token advantages
(0 for outcome estimators; > 0 shows a dense estimator really assigns credit per step).
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import flax.struct
import jax
import jax.numpy as jnp

from r1jax.rl import kl as kl_lib
from r1jax.rl.losses import masked_mean, masked_std

Array = jax.Array

GRPO_NORMS = ("group", "batch", "group_mean_batch_std")


@flax.struct.dataclass
class AdvantageInputs:
  """Estimator inputs; a pytree whose group_size is static, so it can cross a jit boundary.

  step_rewards_NxT: dense rewards placed at the token where each step ends, zeros elsewhere.
  step_mask_NxT: where the steps end; default step_rewards_NxT != 0 (pass it when a step's
    reward can be exactly 0). kl_NxT: per-token KL to the reference, for the reward penalty.
  keep_N: rows that count (default all), e.g. DAPO's kept groups (rl_phases.dynamic_rollout).
  """
  rewards_N: Array
  mask_NxT: Array
  group_size: int = flax.struct.field(pytree_node=False)
  values_NxT: Array | None = None
  step_rewards_NxT: Array | None = None
  kl_NxT: Array | None = None
  step_mask_NxT: Array | None = None
  keep_N: Array | None = None


@dataclasses.dataclass(frozen=True)
class AdvantageConfig:
  """Estimator options; validated on construction, errors name the field."""
  scale_by_std: bool = True  # grpo, process: divide by the std ('dr_grpo' never does).
  # grpo: 'group' mean and std per group; 'batch' both over the whole batch; and
  # 'group_mean_batch_std' centres per group but scales by the batch std.
  grpo_norm: str = "group"
  epsilon: float = 1e-6
  gamma: float = 1.0  # reinforce_pp, gae.
  lam: float = 0.95  # gae.
  kl_coef: float = 0.0  # reinforce_pp, gae: reward penalty on inputs.kl_NxT.
  whiten: bool = True  # gae: normalise advantages over the batch's real tokens.
  add_outcome: bool = False  # process: add the group-normalised outcome reward.

  def __post_init__(self):
    if self.grpo_norm not in GRPO_NORMS:
      raise ValueError(f"AdvantageConfig.grpo_norm={self.grpo_norm!r}; expected one of "
                       f"{GRPO_NORMS}")
    if self.epsilon <= 0:
      raise ValueError(f"AdvantageConfig.epsilon={self.epsilon} must be > 0")
    if not 0.0 <= self.gamma <= 1.0:
      raise ValueError(f"AdvantageConfig.gamma={self.gamma} must be in [0, 1]")
    if not 0.0 <= self.lam <= 1.0:
      raise ValueError(f"AdvantageConfig.lam={self.lam} must be in [0, 1]")
    if self.kl_coef < 0:
      raise ValueError(f"AdvantageConfig.kl_coef={self.kl_coef} must be >= 0")


class AdvantageOutput(NamedTuple):
  advantages_NxT: Array
  returns_NxT: Array
  metrics: dict[str, Array]


def _mean_std(x: Array, w: Array, axis=None) -> tuple[Array, Array]:
  """Mean and sample std (ddof 1) of x over the boolean weights w; zeros when w is empty."""
  mean = masked_mean(x, w, axis=axis)
  mean_b = mean if axis is None else jnp.expand_dims(mean, axis)
  count = jnp.sum(w, axis=axis, dtype=jnp.float32)
  sq = jnp.sum(jnp.where(w, jnp.square(x - mean_b), 0.0), axis=axis)
  return mean, jnp.sqrt(sq / jnp.maximum(count - 1.0, 1.0))


def _reverse_scan(step, init, xs_NxT):
  """Runs `step(carry, x_N) -> (carry, y_N)` from t = T-1 down to 0; returns y_NxT."""
  xs_TxN = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), xs_NxT)
  _, ys_TxN = jax.lax.scan(step, init, xs_TxN, reverse=True)
  return jnp.swapaxes(ys_TxN, 0, 1)


def discounted_returns(rewards_NxT: Array, mask_NxT: Array, gamma: float) -> Array:
  """sum_{s>=t, real} gamma^(#real tokens between) r_s at real tokens; padding is skipped."""
  def step(g_N, x):
    r_N, m_N = x
    g_N = jnp.where(m_N, r_N + gamma * g_N, g_N)
    return g_N, jnp.where(m_N, g_N, 0.0)
  m = mask_NxT.astype(bool)
  init = jnp.zeros(m.shape[:1], jnp.float32)
  return _reverse_scan(step, init, (rewards_NxT.astype(jnp.float32), m))


def gae(values_NxT: Array, rewards_NxT: Array, mask_NxT: Array, gamma: float,
        lam: float) -> tuple[Array, Array]:
  """GAE over real tokens (padding skipped, value 0 after the last): (advantages, returns)."""
  def step(carry, x):
    next_v_N, next_a_N = carry
    v_N, r_N, m_N = x
    delta_N = r_N + gamma * next_v_N - v_N
    a_N = delta_N + gamma * lam * next_a_N
    carry = (jnp.where(m_N, v_N, next_v_N), jnp.where(m_N, a_N, next_a_N))
    return carry, jnp.where(m_N, a_N, 0.0)
  m = mask_NxT.astype(bool)
  v = jnp.where(m, jax.lax.stop_gradient(values_NxT).astype(jnp.float32), 0.0)
  zeros_N = jnp.zeros(m.shape[:1], jnp.float32)
  adv_NxT = _reverse_scan(step, (zeros_N, zeros_N), (v, rewards_NxT.astype(jnp.float32), m))
  return adv_NxT, jnp.where(m, adv_NxT + v, 0.0)


def _groups(x_N: Array, group_size: int) -> Array:
  return x_N.reshape(-1, group_size, *x_N.shape[1:])


def _constant_groups(r_PxG: Array, w_PxG: Array | None = None) -> Array:
  """[P] True where every (weighted) value of the group is the same."""
  w = jnp.ones_like(r_PxG, bool) if w_PxG is None else w_PxG.astype(bool)
  hi = jnp.max(jnp.where(w, r_PxG, -jnp.inf), axis=1)
  lo = jnp.min(jnp.where(w, r_PxG, jnp.inf), axis=1)
  return hi <= lo


def _group_normalise(rewards_N: Array, group_size: int, scale_by_std: bool, eps: float) -> Array:
  r_PxG = _groups(rewards_N, group_size)
  mean_P, std_P = _mean_std(r_PxG, jnp.ones_like(r_PxG, bool), axis=1)
  adv_PxG = r_PxG - mean_P[:, None]
  if scale_by_std:
    adv_PxG = adv_PxG / (std_P[:, None] + eps)
  # A group of equal rewards carries no signal: exactly 0, not float32 rounding of the mean
  # divided by eps (|A| reached 0.056 for constant rewards like 0.1).
  return jnp.where(_constant_groups(r_PxG)[:, None], 0.0, adv_PxG).reshape(-1)


def _keep(inputs: AdvantageInputs) -> Array:
  n = inputs.rewards_N.shape[0]
  return jnp.ones((n,), bool) if inputs.keep_N is None else inputs.keep_N.astype(bool)


def _token_mask(inputs: AdvantageInputs) -> Array:
  return inputs.mask_NxT.astype(bool) & _keep(inputs)[:, None]


def _output(adv_NxT, returns_NxT, inputs: AdvantageInputs) -> AdvantageOutput:
  m = _token_mask(inputs)
  adv_NxT = jnp.where(m, adv_NxT, 0.0)
  returns_NxT = jnp.where(m, returns_NxT, 0.0)
  keep = _keep(inputs)
  r_N = inputs.rewards_N.astype(jnp.float32)
  any_m = jnp.any(m)
  metrics = {
      "reward_mean": masked_mean(r_N, keep),
      "reward_std": masked_std(r_N, keep),
      "adv_mean": masked_mean(adv_NxT, m),
      "adv_std": masked_std(adv_NxT, m),
      "adv_min": jnp.where(any_m, jnp.min(jnp.where(m, adv_NxT, jnp.inf)), 0.0),
      "adv_max": jnp.where(any_m, jnp.max(jnp.where(m, adv_NxT, -jnp.inf)), 0.0),
      "return_mean": masked_mean(returns_NxT, m),
      # Dense estimators vary the advantage along a completion; outcome ones cannot (exactly
      # 0: a row of equal values gets 0, not the rounding of its mean).
      "within_completion_std": masked_mean(
          jnp.where(_constant_groups(adv_NxT, m), 0.0, masked_std(adv_NxT, m, axis=1)),
          jnp.any(m, axis=1)),
  }
  return AdvantageOutput(adv_NxT, returns_NxT, metrics)


def _outcome_output(adv_N, inputs: AdvantageInputs) -> AdvantageOutput:
  r_N = inputs.rewards_N.astype(jnp.float32)
  shape = inputs.mask_NxT.shape
  return _output(jnp.broadcast_to(adv_N[:, None], shape),
                 jnp.broadcast_to(r_N[:, None], shape), inputs)


def grpo(inputs: AdvantageInputs, cfg: AdvantageConfig) -> AdvantageOutput:
  """Outcome reward normalised within its group (or the batch, per cfg.grpo_norm)."""
  r_N = inputs.rewards_N.astype(jnp.float32)
  if cfg.grpo_norm == "group":
    return _outcome_output(
        _group_normalise(r_N, inputs.group_size, cfg.scale_by_std, cfg.epsilon), inputs)
  batch_mean, batch_std = _mean_std(r_N, _keep(inputs))
  if cfg.grpo_norm == "batch":
    adv_N = r_N - batch_mean
  else:
    adv_N = _group_normalise(r_N, inputs.group_size, False, cfg.epsilon)
  if cfg.scale_by_std:
    adv_N = adv_N / (batch_std + cfg.epsilon)
  return _outcome_output(adv_N, inputs)


def dr_grpo(inputs: AdvantageInputs, cfg: AdvantageConfig) -> AdvantageOutput:
  """GRPO without the std division (Dr. GRPO)."""
  return grpo(inputs, dataclasses.replace(cfg, scale_by_std=False))


def rloo(inputs: AdvantageInputs, cfg: AdvantageConfig) -> AdvantageOutput:
  """Leave-one-out baseline: the mean reward of the other G-1 completions."""
  del cfg
  G = inputs.group_size
  if G < 2:
    raise ValueError(f"rloo needs group_size >= 2, got group_size={G}")
  r_PxG = _groups(inputs.rewards_N.astype(jnp.float32), G)
  baseline_PxG = (jnp.sum(r_PxG, axis=1, keepdims=True) - r_PxG) / (G - 1)
  adv_PxG = jnp.where(_constant_groups(r_PxG)[:, None], 0.0, r_PxG - baseline_PxG)
  return _outcome_output(adv_PxG.reshape(-1), inputs)


def _whiten(x_NxT: Array, m_NxT: Array, eps: float) -> Array:
  mean, std = _mean_std(x_NxT, m_NxT)
  return (x_NxT - mean) / (std + eps)


def reinforce_pp(inputs: AdvantageInputs, cfg: AdvantageConfig) -> AdvantageOutput:
  """REINFORCE++: KL-penalised token rewards, discounted returns, batch-normalised."""
  tok_r_NxT = kl_lib.kl_penalized_token_rewards(inputs.rewards_N, inputs.mask_NxT,
                                                inputs.kl_NxT, cfg.kl_coef)
  returns_NxT = discounted_returns(tok_r_NxT, inputs.mask_NxT, cfg.gamma)
  adv_NxT = _whiten(returns_NxT, _token_mask(inputs), cfg.epsilon)
  return _output(adv_NxT, returns_NxT, inputs)


def gae_advantages(inputs: AdvantageInputs, cfg: AdvantageConfig) -> AdvantageOutput:
  """PPO with a learned value: GAE on the KL-penalised token rewards."""
  if inputs.values_NxT is None:
    raise ValueError("advantage 'gae' needs AdvantageInputs.values_NxT")
  tok_r_NxT = kl_lib.kl_penalized_token_rewards(inputs.rewards_N, inputs.mask_NxT,
                                                inputs.kl_NxT, cfg.kl_coef)
  adv_NxT, returns_NxT = gae(inputs.values_NxT, tok_r_NxT, inputs.mask_NxT, cfg.gamma, cfg.lam)
  if cfg.whiten:
    adv_NxT = _whiten(adv_NxT, _token_mask(inputs), cfg.epsilon)
  return _output(adv_NxT, returns_NxT, inputs)


def process(inputs: AdvantageInputs, cfg: AdvantageConfig) -> AdvantageOutput:
  """Dense (process) supervision: normalised step rewards summed over the future steps."""
  if inputs.step_rewards_NxT is None:
    raise ValueError("advantage 'process' needs AdvantageInputs.step_rewards_NxT")
  G, m = inputs.group_size, inputs.mask_NxT.astype(bool)
  step_r_NxT = inputs.step_rewards_NxT.astype(jnp.float32)
  if inputs.step_mask_NxT is None:
    step_m_NxT = m & (step_r_NxT != 0)
  else:
    step_m_NxT = m & inputs.step_mask_NxT.astype(bool)
  step_r_NxT = jnp.where(step_m_NxT, step_r_NxT, 0.0)
  # All steps of all G completions of a prompt share one mean and std.
  r_PxGT, sm_PxGT = (_groups(x, G).reshape(-1, G * m.shape[1]) for x in (step_r_NxT, step_m_NxT))
  mean_P, std_P = _mean_std(r_PxGT, sm_PxGT, axis=1)
  norm_PxGT = r_PxGT - mean_P[:, None]
  if cfg.scale_by_std:
    norm_PxGT = norm_PxGT / (std_P[:, None] + cfg.epsilon)
  norm_PxGT = jnp.where(_constant_groups(r_PxGT, sm_PxGT)[:, None], 0.0, norm_PxGT)
  norm_NxT = jnp.where(step_m_NxT, norm_PxGT.reshape(m.shape), 0.0)
  adv_NxT = discounted_returns(norm_NxT, m, 1.0)
  returns_NxT = discounted_returns(step_r_NxT, m, 1.0)
  if cfg.add_outcome:
    r_N = inputs.rewards_N.astype(jnp.float32)
    adv_NxT = adv_NxT + _group_normalise(r_N, G, cfg.scale_by_std, cfg.epsilon)[:, None]
    returns_NxT = returns_NxT + r_N[:, None]
  return _output(adv_NxT, returns_NxT, inputs)


ADVANTAGES = {
    "grpo": grpo,
    "dr_grpo": dr_grpo,
    "rloo": rloo,
    "reinforce_pp": reinforce_pp,
    "gae": gae_advantages,
    "process": process,
}


def compute_advantages(name: str, inputs: AdvantageInputs,
                       cfg: AdvantageConfig = AdvantageConfig()) -> AdvantageOutput:
  """Runs the estimator `name` after checking the batch layout."""
  if name not in ADVANTAGES:
    raise ValueError(f"advantage name={name!r}; expected one of {sorted(ADVANTAGES)}")
  N = inputs.rewards_N.shape[0]
  G = inputs.group_size
  if not isinstance(G, int) or G < 1 or N % G:
    raise ValueError(f"AdvantageInputs.group_size={G!r} must be a positive int dividing "
                     f"N={N} (rewards_N rows)")
  if inputs.mask_NxT.ndim != 2 or inputs.mask_NxT.shape[0] != N:
    raise ValueError(f"AdvantageInputs.mask_NxT shape {inputs.mask_NxT.shape} must be [N={N}, T]")
  for field in ("values_NxT", "step_rewards_NxT", "kl_NxT", "step_mask_NxT"):
    x = getattr(inputs, field)
    if x is not None and x.shape != inputs.mask_NxT.shape:
      raise ValueError(f"AdvantageInputs.{field} shape {x.shape} != mask_NxT shape "
                       f"{inputs.mask_NxT.shape}")
  if inputs.keep_N is not None and inputs.keep_N.shape != (N,):
    raise ValueError(f"AdvantageInputs.keep_N shape {inputs.keep_N.shape} must be ({N},)")
  return ADVANTAGES[name](inputs, cfg)
