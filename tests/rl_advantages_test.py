"""Advantage estimators against NumPy float64 loops, a hand-computed dense example, edge cases."""
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax.rl import advantages as adv_lib
from r1jax.rl.advantages import AdvantageConfig, AdvantageInputs

# float32 arithmetic on O(1) values, divisions by stds of O(1): ~1e-6 relative to float64.
RTOL, ATOL = 2e-5, 2e-6
EPS = AdvantageConfig().epsilon
P, G, T = 4, 4, 7
N = P * G


# ----------------------------------------------------------------------------- NumPy reference.
def _std1(x):
  return float(np.std(x, ddof=1)) if len(x) > 1 else 0.0


def _np_outcome(name, r, keep, cfg):
  """Per-row advantages for grpo/dr_grpo/rloo."""
  out = np.zeros(N)
  kept = r[keep]
  for g in range(P):
    rows = slice(g * G, g * G + G)
    grp = r[rows]
    if name == "rloo":
      out[rows] = [grp[i] - (grp.sum() - grp[i]) / (G - 1) for i in range(G)]
      continue
    scale = cfg.scale_by_std and name == "grpo"
    if cfg.grpo_norm == "group":
      out[rows] = (grp - grp.mean()) / ((_std1(grp) + EPS) if scale else 1.0)
    elif cfg.grpo_norm == "batch":
      out[rows] = (grp - kept.mean()) / ((_std1(kept) + EPS) if scale else 1.0)
    else:
      out[rows] = (grp - grp.mean()) / ((_std1(kept) + EPS) if scale else 1.0)
  return out


def _np_token_rewards(r, mask, kl, kl_coef):
  tr = np.zeros(mask.shape)
  for i in range(mask.shape[0]):
    real = np.flatnonzero(mask[i])
    for t in real:
      tr[i, t] -= kl_coef * kl[i, t]
    if len(real):
      tr[i, real[-1]] += r[i]
  return tr


def _np_returns(tr, mask, gamma):
  out = np.zeros(mask.shape)
  for i in range(mask.shape[0]):
    g = 0.0
    for t in reversed(np.flatnonzero(mask[i])):
      g = tr[i, t] + gamma * g
      out[i, t] = g
  return out


def _np_gae(v, tr, mask, gamma, lam):
  adv = np.zeros(mask.shape)
  for i in range(mask.shape[0]):
    real = list(np.flatnonzero(mask[i]))
    a_next, v_next = 0.0, 0.0
    for t in reversed(real):
      delta = tr[i, t] + gamma * v_next - v[i, t]
      a_next = delta + gamma * lam * a_next
      v_next = v[i, t]
      adv[i, t] = a_next
  return adv, np.where(mask, adv + v, 0.0)


def _np_whiten(x, m):
  vals = x[m]
  return np.where(m, (x - vals.mean()) / (_std1(vals) + EPS), 0.0)


def _inputs(seed=0, keep=None):
  rng = np.random.default_rng(seed)
  mask = rng.random((N, T)) > 0.25
  mask[1] = False  # An empty completion.
  mask[3, 2] = False  # A hole inside a completion.
  mask[3, [0, 1, 3]] = True
  rewards = rng.integers(0, 3, N).astype(np.float32)
  # Every group but one has mixed rewards, so the references compare real numbers: the hand
  # groups (1,0,0,0) and (1,1,0,0), a random group made mixed, and an all-equal group (zero
  # advantage, no NaN).
  rewards[0:4] = [2.0, 0.0, 1.0, rewards[3]]
  rewards[4:8] = [1.0, 0.0, 0.0, 0.0]
  rewards[8:12] = 1.0
  rewards[12:16] = [1.0, 1.0, 0.0, 0.0]
  steps = (rng.random((N, T)) > 0.6) & mask
  step_r = np.where(steps, rng.normal(size=(N, T)), 0.0).astype(np.float32)
  inputs = AdvantageInputs(
      rewards_N=jnp.asarray(rewards), mask_NxT=jnp.asarray(mask.astype(np.float32)),
      group_size=G, values_NxT=jnp.asarray(rng.normal(size=(N, T)), jnp.float32),
      step_rewards_NxT=jnp.asarray(step_r), kl_NxT=jnp.asarray(rng.random((N, T)), jnp.float32),
      keep_N=None if keep is None else jnp.asarray(keep, jnp.float32))
  return inputs, rewards.astype(np.float64), mask


def _check(out, want_adv, want_ret, mask, r, keep=None):
  """Advantages, returns and every metric of the module docstring against float64."""
  assert out.advantages_NxT.dtype == jnp.float32 and out.advantages_NxT.shape == (N, T)
  np.testing.assert_allclose(out.advantages_NxT, want_adv, rtol=RTOL, atol=ATOL)
  np.testing.assert_allclose(out.returns_NxT, want_ret, rtol=RTOL, atol=ATOL)
  m = mask.astype(bool)
  keep = np.ones(N, bool) if keep is None else keep
  rows = m.any(axis=1)
  want = {
      "reward_mean": r[keep].mean(),
      "reward_std": r[keep].std(),
      "adv_mean": want_adv[m].mean(),
      "adv_std": want_adv[m].std(),
      "adv_min": want_adv[m].min(),
      "adv_max": want_adv[m].max(),
      "return_mean": want_ret[m].mean(),
      "within_completion_std": np.mean([want_adv[i][m[i]].std() for i in np.flatnonzero(rows)]),
  }
  assert set(out.metrics) == set(want)
  for k, v in want.items():
    np.testing.assert_allclose(out.metrics[k], v, rtol=RTOL, atol=ATOL, err_msg=k)


# ---------------------------------------------------------------------------- Outcome family.
@pytest.mark.parametrize("name,cfg", [
    ("grpo", AdvantageConfig()),
    ("grpo", AdvantageConfig(scale_by_std=False)),
    ("grpo", AdvantageConfig(grpo_norm="batch")),
    ("grpo", AdvantageConfig(grpo_norm="group_mean_batch_std")),
    ("dr_grpo", AdvantageConfig()),
    ("rloo", AdvantageConfig()),
])
# scale=1e-6: rewards whose spread is about epsilon, where std + eps and std - eps differ (on
# O(1) spreads they differ by 2e-6 relative, inside the tolerance).
@pytest.mark.parametrize("scale", [1.0, 1e-6])
def test_outcome_estimators_match_numpy(name, cfg, scale):
  keep = np.ones(N, bool)
  keep[:G] = False  # A filtered group: zero advantages, and out of the batch statistics.
  inputs, r, mask = _inputs(keep=keep)
  inputs = inputs.replace(rewards_N=inputs.rewards_N * scale)
  r = np.asarray(inputs.rewards_N, np.float64)
  out = adv_lib.compute_advantages(name, inputs, cfg)
  row_mask = mask & keep[:, None]
  want = np.where(row_mask, _np_outcome(name, r, keep, cfg)[:, None], 0.0)
  want_ret = np.where(row_mask, r[:, None], 0.0)
  _check(out, want, want_ret, row_mask, r, keep)
  np.testing.assert_allclose(out.advantages_NxT, want, rtol=RTOL, atol=ATOL * scale)
  np.testing.assert_allclose(out.returns_NxT, want_ret, rtol=RTOL, atol=ATOL * scale)
  # Non-degenerate: the two mixed kept groups give advantages well away from zero.
  assert np.abs(want[4:8][row_mask[4:8]]).min() > 0.1 * scale
  assert np.abs(want[12:16][row_mask[12:16]]).min() > 0.1 * scale
  np.testing.assert_allclose(out.metrics["reward_mean"], r[keep].mean(), rtol=RTOL)
  if cfg.grpo_norm != "batch":  # Group-centred: an all-equal group has zero advantage.
    np.testing.assert_array_equal(np.asarray(out.advantages_NxT)[8:12], 0.0)


@pytest.mark.parametrize("rewards,grpo,rloo", [
    ((1, 0, 0, 0), (1.5, -0.5, -0.5, -0.5), (1.0, -1 / 3, -1 / 3, -1 / 3)),
    ((1, 1, 0, 0), (0.8660254, 0.8660254, -0.8660254, -0.8660254), (2 / 3, 2 / 3, -2 / 3, -2 / 3)),
])
def test_hand_groups(rewards, grpo, rloo):
  """By hand: GRPO (R - mean) / sample std; RLOO R - mean of the other three."""
  inputs = AdvantageInputs(jnp.asarray(rewards, jnp.float32), jnp.ones((4, 2)), 4)
  got = adv_lib.compute_advantages("grpo", inputs).advantages_NxT[:, 0]
  np.testing.assert_allclose(got, grpo, rtol=1e-5)
  got = adv_lib.compute_advantages("rloo", inputs).advantages_NxT[:, 0]
  np.testing.assert_allclose(got, rloo, rtol=1e-5)


def test_rloo_with_pairs_uses_the_other_completion():
  """G = 2, the smallest group RLOO allows: each completion's baseline is the other one's
  reward (kills the mutants that refused G = 2)."""
  inputs = AdvantageInputs(jnp.asarray([1.0, 0.0, 0.5, 0.5, 0.0, 2.0], jnp.float32),
                           jnp.ones((6, 2)), 2)
  got = adv_lib.compute_advantages("rloo", inputs).advantages_NxT[:, 0]
  np.testing.assert_allclose(got, [1.0, -1.0, 0.0, 0.0, -2.0, 2.0], rtol=1e-6)


def test_dr_grpo_is_grpo_without_std():
  inputs, _, _ = _inputs(1)
  a = adv_lib.compute_advantages("dr_grpo", inputs, AdvantageConfig(scale_by_std=True))
  b = adv_lib.compute_advantages("grpo", inputs, AdvantageConfig(scale_by_std=False))
  np.testing.assert_array_equal(a.advantages_NxT, b.advantages_NxT)


def test_rloo_is_scaled_mean_baseline():
  inputs, _, _ = _inputs(2)
  a = adv_lib.compute_advantages("rloo", inputs)
  b = adv_lib.compute_advantages("dr_grpo", inputs)
  np.testing.assert_allclose(a.advantages_NxT, G / (G - 1) * b.advantages_NxT, rtol=1e-6,
                             atol=1e-7)


# ----------------------------------------------------------------- Token-level estimators.
# scale 1e-6: rewards whose spread is about eps, so whitening's std + eps is not std alone (a
# std - eps mutant survived every O(1) batch).
@pytest.mark.parametrize("gamma,kl_coef,scale",
                         [(1.0, 0.0, 1.0), (0.9, 0.1, 1.0), (1.0, 0.0, 1e-6)])
def test_reinforce_pp_matches_numpy(gamma, kl_coef, scale):
  inputs, r, mask = _inputs(3)
  inputs = inputs.replace(rewards_N=inputs.rewards_N * scale)
  r = np.asarray(inputs.rewards_N, np.float64)
  cfg = AdvantageConfig(gamma=gamma, kl_coef=kl_coef)
  out = adv_lib.compute_advantages("reinforce_pp", inputs, cfg)
  tr = _np_token_rewards(r, mask, np.asarray(inputs.kl_NxT, np.float64), kl_coef)
  ret = _np_returns(tr, mask, gamma)
  _check(out, _np_whiten(ret, mask), ret, mask, r)
  np.testing.assert_allclose(out.returns_NxT, ret, rtol=RTOL, atol=ATOL * scale)


@pytest.mark.parametrize("gamma,lam,whiten", [(1.0, 0.95, True), (0.9, 0.8, False)])
def test_gae_matches_numpy(gamma, lam, whiten):
  inputs, r, mask = _inputs(4)
  cfg = AdvantageConfig(gamma=gamma, lam=lam, kl_coef=0.05, whiten=whiten)
  out = adv_lib.compute_advantages("gae", inputs, cfg)
  tr = _np_token_rewards(r, mask, np.asarray(inputs.kl_NxT, np.float64), 0.05)
  a, ret = _np_gae(np.asarray(inputs.values_NxT, np.float64), tr, mask, gamma, lam)
  _check(out, _np_whiten(a, mask) if whiten else a, ret, mask, r)


def test_discounted_returns_and_gae_themselves_match_numpy_and_zero_the_padding():
  # The public helpers on dense token rewards (every real token rewarded, unlike the
  # estimators' last-token rewards), padding holes included. Their outputs at padding are 0:
  # the estimators mask them again, but a direct caller reads these arrays as they are.
  inputs, _, mask = _inputs(6)
  rng = np.random.default_rng(6)
  tr = np.where(mask, rng.normal(size=mask.shape), 0.0)
  v = np.asarray(inputs.values_NxT, np.float64)
  for gamma in (1.0, 0.9):
    got = adv_lib.discounted_returns(jnp.asarray(tr, jnp.float32), inputs.mask_NxT, gamma)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, _np_returns(tr, mask, gamma), rtol=RTOL, atol=ATOL)
    assert not np.any(np.asarray(got)[~mask])
  a, ret = adv_lib.gae(inputs.values_NxT, jnp.asarray(tr, jnp.float32), inputs.mask_NxT, 0.9,
                       0.8)
  want_a, want_ret = _np_gae(v, tr, mask, 0.9, 0.8)
  np.testing.assert_allclose(a, want_a, rtol=RTOL, atol=ATOL)
  np.testing.assert_allclose(ret, want_ret, rtol=RTOL, atol=ATOL)
  assert not np.any(np.asarray(a)[~mask]) and not np.any(np.asarray(ret)[~mask])


def test_gae_with_gamma_lambda_one_is_return_minus_value():
  inputs, r, mask = _inputs(5)
  out = adv_lib.compute_advantages("gae", inputs,
                                   AdvantageConfig(gamma=1.0, lam=1.0, whiten=False))
  want = np.where(mask, r[:, None] - np.asarray(inputs.values_NxT, np.float64), 0.0)
  np.testing.assert_allclose(out.advantages_NxT, want, rtol=RTOL, atol=ATOL)
  np.testing.assert_allclose(out.returns_NxT, np.where(mask, r[:, None], 0.0), rtol=RTOL,
                             atol=ATOL)


# --------------------------------------------------------------------------- Process (dense).
def _np_process(step_r, steps, mask, r, cfg):
  adv, ret = np.zeros(mask.shape), np.zeros(mask.shape)
  for g in range(P):
    rows = range(g * G, g * G + G)
    vals = np.concatenate([step_r[i][steps[i]] for i in rows])
    mean, std = (vals.mean(), _std1(vals)) if len(vals) else (0.0, 0.0)
    outcome = r[list(rows)]
    o_adv = (outcome - outcome.mean()) / (_std1(outcome) + EPS)
    for k, i in enumerate(rows):
      ends = np.flatnonzero(steps[i])
      norm = (step_r[i, ends] - mean) / (std + EPS)
      for t in np.flatnonzero(mask[i]):
        later = ends >= t
        adv[i, t] = norm[later].sum() + (o_adv[k] if cfg.add_outcome else 0.0)
        ret[i, t] = step_r[i, ends][later].sum() + (r[i] if cfg.add_outcome else 0.0)
  return adv, ret


# scale 1e-6: step rewards whose spread is about eps (the std + eps of the scaling).
@pytest.mark.parametrize("add_outcome,scale", [(False, 1.0), (True, 1.0), (False, 1e-6)])
def test_process_matches_numpy(add_outcome, scale):
  inputs, r, mask = _inputs(6)
  inputs = inputs.replace(step_rewards_NxT=inputs.step_rewards_NxT * scale)
  step_r = np.asarray(inputs.step_rewards_NxT, np.float64)
  out = adv_lib.compute_advantages("process", inputs, AdvantageConfig(add_outcome=add_outcome))
  want_adv, want_ret = _np_process(step_r, (step_r != 0) & mask, mask, r,
                                   AdvantageConfig(add_outcome=add_outcome))
  _check(out, want_adv, want_ret, mask, r)


def test_process_hand_computed_three_steps():
  """One group of two completions with three steps each; one step reward is exactly 0.

  Row 0 (6 tokens): steps end at t = 1, 3, 5 with rewards 1, 1, 1.
  Row 1 (7 tokens): steps end at t = 1, 2, 4 with rewards 1, 0, 0.
  Group step mean 4/6 = 2/3; deviations 1/3 (x4) and -2/3 (x2); sample variance
  (4/9 + 8/9) / 5 = 4/15. With a = (1/3) / sqrt(4/15) = sqrt(15)/6, row 0's normalised steps
  are (a, a, a) and row 1's (a, -2a, -2a). Advantage = sum of the steps ending at or after t.
  """
  Tt = 8
  mask = np.zeros((2, Tt), np.float32)
  mask[0, :6] = 1
  mask[1, :7] = 1
  step_r = np.zeros((2, Tt), np.float32)
  step_m = np.zeros((2, Tt), np.float32)
  for i, ends, vals in ((0, [1, 3, 5], [1, 1, 1]), (1, [1, 2, 4], [1, 0, 0])):
    step_r[i, ends] = vals
    step_m[i, ends] = 1
  a = math.sqrt(15) / 6
  want = np.array([[3 * a, 3 * a, 2 * a, 2 * a, a, a, 0, 0],
                   [-3 * a, -3 * a, -4 * a, -2 * a, -2 * a, 0, 0, 0]])
  want_ret = np.array([[3, 3, 2, 2, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0]], np.float64)
  inputs = AdvantageInputs(jnp.array([1.0, 0.0]), jnp.asarray(mask), 2,
                           step_rewards_NxT=jnp.asarray(step_r), step_mask_NxT=jnp.asarray(step_m))
  out = adv_lib.compute_advantages("process", inputs)
  np.testing.assert_allclose(out.advantages_NxT, want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out.returns_NxT, want_ret, rtol=1e-6)
  # Outcome rewards 1, 0: group-normalised to +-0.5 / sqrt(0.5) = +-sqrt(0.5), on every token.
  out = adv_lib.compute_advantages("process", inputs, AdvantageConfig(add_outcome=True))
  o = math.sqrt(0.5) * np.array([[1.0], [-1.0]])
  np.testing.assert_allclose(out.advantages_NxT, (want + o) * mask, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out.returns_NxT, (want_ret + [[1.0], [0.0]]) * mask, rtol=1e-6)


def test_process_group_of_equal_step_rewards_gets_zero_advantage():
  """Every step of a group earns the same reward: no signal, advantages exactly 0 (found by
  mutation testing: no process test had such a group). Its seven steps of 0.3 have a float32
  mean that is not exactly 0.3 (checked), so the equal-group check, not the arithmetic, gives
  the zeros. In the second group every token is a step and the rewards differ: it keeps its
  advantages (the check reads the rewards of the steps, not the step mask alone)."""
  mask = np.ones((4, 6), np.float32)
  mask[0, 5] = 0
  step_r = np.zeros((4, 6), np.float32)
  step_m = np.zeros((4, 6), np.float32)
  for i, ends in ((0, [1, 4]), (1, [0, 1, 2, 3, 5])):
    step_r[i, ends] = 0.3
    step_m[i, ends] = 1
  step_r[2:] = np.random.default_rng(0).normal(size=(2, 6))
  step_m[2:] = 1
  mean, _ = adv_lib._mean_std(jnp.asarray(step_r[:2].reshape(1, -1)),
                              jnp.asarray(step_m[:2].reshape(1, -1), bool), axis=1)
  assert float(mean[0]) != float(np.float32(0.3))
  inputs = AdvantageInputs(jnp.array([1.0, 0.0, 1.0, 0.0]), jnp.asarray(mask), 2,
                           step_rewards_NxT=jnp.asarray(step_r), step_mask_NxT=jnp.asarray(step_m))
  out = adv_lib.compute_advantages("process", inputs)
  np.testing.assert_array_equal(out.advantages_NxT[:2], 0.0)
  vals = step_r[2:].astype(np.float64)
  norm = (vals - vals.mean()) / (_std1(vals.ravel()) + EPS)
  want = np.cumsum(norm[:, ::-1], axis=1)[:, ::-1]  # The sum of the steps at or after t.
  np.testing.assert_allclose(out.advantages_NxT[2:], want, rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------ Edge cases, jit, errors.
def test_fully_masked_batch_gives_zeros_everywhere():
  inputs, _, _ = _inputs(7)
  inputs = inputs.replace(mask_NxT=jnp.zeros((N, T)), keep_N=jnp.zeros((N,)))
  for name in adv_lib.ADVANTAGES:
    out = adv_lib.compute_advantages(name, inputs)
    np.testing.assert_array_equal(out.advantages_NxT, 0.0, err_msg=name)
    np.testing.assert_array_equal(out.returns_NxT, 0.0, err_msg=name)
    for k, v in out.metrics.items():
      assert float(v) == 0.0, (name, k)


def test_jit_with_inputs_as_an_argument():
  inputs, _, _ = _inputs(8)
  cfg = AdvantageConfig(kl_coef=0.1)
  for name in ("grpo", "gae", "process"):
    f = jax.jit(lambda x: adv_lib.compute_advantages(name, x, cfg))
    got, want = f(inputs), adv_lib.compute_advantages(name, inputs, cfg)
    np.testing.assert_allclose(got.advantages_NxT, want.advantages_NxT, rtol=1e-6, atol=1e-7)


def test_input_errors_name_the_field():
  inputs, _, _ = _inputs()
  with pytest.raises(ValueError, match="group_size"):
    adv_lib.compute_advantages("grpo", inputs.replace(group_size=5))
  with pytest.raises(ValueError, match="group_size"):
    adv_lib.compute_advantages("rloo", inputs.replace(group_size=1))
  for bad in (4.0, 0, -4):  # Not an int (though it divides N), zero, negative.
    with pytest.raises(ValueError, match="group_size"):
      adv_lib.compute_advantages("grpo", inputs.replace(group_size=bad))
  for mask in (jnp.ones((N,)), jnp.ones((N + 1, T)), jnp.ones((N, T, 1))):
    with pytest.raises(ValueError, match=r"mask_NxT shape .* must be \[N=16, T\]"):
      adv_lib.compute_advantages("grpo", inputs.replace(mask_NxT=mask))
  with pytest.raises(ValueError, match="values_NxT"):
    adv_lib.compute_advantages("gae", inputs.replace(values_NxT=None))
  with pytest.raises(ValueError, match="step_rewards_NxT"):
    adv_lib.compute_advantages("process", inputs.replace(step_rewards_NxT=None))
  with pytest.raises(ValueError, match="kl_NxT"):
    adv_lib.compute_advantages("reinforce_pp", inputs.replace(kl_NxT=jnp.zeros((N, T + 1))))
  with pytest.raises(ValueError, match="keep_N"):
    adv_lib.compute_advantages("grpo", inputs.replace(keep_N=jnp.ones((N + 1,))))
  with pytest.raises(ValueError, match="ppo"):
    adv_lib.compute_advantages("ppo", inputs)


_GRPO_NORMS = "('group', 'batch', 'group_mean_batch_std')"


@pytest.mark.parametrize("field,value,message", [
    ("grpo_norm", "global",
     f"AdvantageConfig.grpo_norm='global'; expected one of {_GRPO_NORMS}"),
    ("epsilon", 0.0, "AdvantageConfig.epsilon=0.0 must be > 0"),
    ("epsilon", -1e-6, "AdvantageConfig.epsilon=-1e-06 must be > 0"),
    ("gamma", -0.1, "AdvantageConfig.gamma=-0.1 must be in [0, 1]"),
    ("gamma", 1.5, "AdvantageConfig.gamma=1.5 must be in [0, 1]"),
    ("lam", -0.1, "AdvantageConfig.lam=-0.1 must be in [0, 1]"),
    ("lam", 1.5, "AdvantageConfig.lam=1.5 must be in [0, 1]"),
    ("kl_coef", -1.0, "AdvantageConfig.kl_coef=-1.0 must be >= 0"),
    ("kl_coef", -1e-9, "AdvantageConfig.kl_coef=-1e-09 must be >= 0"),
])
def test_config_errors_name_the_field(field, value, message):
  """Each bound on both sides, and the whole message (`match=` alone finds a substring)."""
  with pytest.raises(ValueError) as e:
    dataclasses.replace(AdvantageConfig(), **{field: value})
  assert str(e.value) == message


# ------------------------------------------- Defaults and edges (mutation-testing survivors).
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_metrics_of_a_batch_whose_advantages_all_have_one_sign(sign):
  # Every other batch here has advantages of both signs, so a padding fill of 0 (not +-inf)
  # in adv_min or adv_max would pass them all; with values of -+10, GAE's every real
  # advantage has the sign `sign`.
  inputs, r, mask = _inputs(8)
  v = np.full((N, T), -10.0 * sign)
  inputs = inputs.replace(values_NxT=jnp.asarray(v, jnp.float32))
  out = adv_lib.compute_advantages("gae", inputs,
                                   AdvantageConfig(gamma=0.9, lam=1.0, whiten=False))
  a, ret = _np_gae(v, _np_token_rewards(r, mask, np.zeros((N, T)), 0.0), mask, 0.9, 1.0)
  assert (sign * a[mask]).min() > 0.5
  _check(out, a, ret, mask, r)


@pytest.mark.parametrize("name", ["reinforce_pp", "gae"])
def test_group_size_one_is_valid_where_the_estimator_has_no_groups(name):
  # PPO-style runs sample one completion per prompt; their estimators never read the groups.
  inputs, _, _ = _inputs(7)
  cfg = AdvantageConfig(kl_coef=0.05)
  want = adv_lib.compute_advantages(name, inputs, cfg)
  got = adv_lib.compute_advantages(name, inputs.replace(group_size=1), cfg)
  np.testing.assert_array_equal(got.advantages_NxT, want.advantages_NxT)
  assert np.abs(np.asarray(got.advantages_NxT)).max() > 0.1


def test_defaults_are_the_documented_ones():
  """The references above read EPS from the default config, so they cannot see its value."""
  assert AdvantageConfig() == AdvantageConfig(
      scale_by_std=True, grpo_norm="group", epsilon=1e-6, gamma=1.0, lam=0.95, kl_coef=0.0,
      whiten=True, add_outcome=False)


@pytest.mark.parametrize("kwargs", [dict(gamma=0.0), dict(gamma=1.0), dict(lam=0.0),
                                    dict(lam=1.0), dict(kl_coef=0.0), dict(epsilon=1e-12)])
def test_edge_values_that_are_valid(kwargs):
  AdvantageConfig(**kwargs)


def test_gamma_zero_keeps_only_the_tokens_own_reward():
  """gamma 0: each token's return is its own reward (the outcome, at the last real token,
  minus the KL penalty); GAE with gamma 0 is r_t - V_t."""
  inputs, r, mask = _inputs(3)
  cfg = AdvantageConfig(gamma=0.0, kl_coef=0.1, whiten=False)
  kl = np.asarray(inputs.kl_NxT, np.float64)
  tr = _np_token_rewards(r, mask, kl, 0.1)
  out = adv_lib.compute_advantages("reinforce_pp", inputs, cfg)
  np.testing.assert_allclose(out.returns_NxT, np.where(mask, tr, 0.0), rtol=RTOL, atol=ATOL)
  out = adv_lib.compute_advantages("gae", inputs, cfg)
  v = np.asarray(inputs.values_NxT, np.float64)
  np.testing.assert_allclose(out.advantages_NxT, np.where(mask, tr - v, 0.0), rtol=RTOL,
                             atol=ATOL)
