"""KL estimators against NumPy float64, k3's flatness at ratio 1, the reward-penalty helpers."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax.rl import kl

# float32 evaluation of exp/log on O(1) inputs: ~1e-6 relative to float64.
RTOL, ATOL = 1e-5, 1e-6


def _np_kl(logp, ref, kind):
  d = ref.astype(np.float64) - logp.astype(np.float64)  # log(pi_ref / pi)
  if kind == "k1":
    return -d
  if kind == "k2":
    return 0.5 * d ** 2
  return np.exp(d) - d - 1.0


def _inputs(seed=0, shape=(4, 7)):
  rng = np.random.default_rng(seed)
  logp = rng.normal(-2.0, 1.0, shape).astype(np.float32)
  ref = (logp + rng.normal(0.0, 0.7, shape)).astype(np.float32)
  return logp, ref


@pytest.mark.parametrize("kind", ["k1", "k2", "k3"])
def test_estimators_match_numpy(kind):
  logp, ref = _inputs()
  got = jax.jit(kl.kl_estimate, static_argnums=2)(logp, ref, kind)
  assert got.dtype == jnp.float32
  np.testing.assert_allclose(got, _np_kl(logp, ref, kind), rtol=RTOL, atol=ATOL)


def test_k3_nonnegative_and_k2_gradient_is_log_ratio():
  logp, ref = _inputs(1)
  assert np.all(np.asarray(kl.kl_estimate(logp, ref, "k3")) >= 0.0)
  g = jax.grad(lambda x: jnp.sum(kl.kl_estimate(x, ref, "k2")))(jnp.asarray(logp))
  np.testing.assert_allclose(g, logp.astype(np.float64) - ref, rtol=RTOL, atol=ATOL)


def test_k3_zero_value_and_gradient_at_ratio_one():
  logp, _ = _inputs(2)
  f = lambda x: jnp.sum(kl.kl_estimate(x, jnp.asarray(logp), "k3"))
  value, grad = jax.value_and_grad(f)(jnp.asarray(logp))
  assert float(value) == 0.0
  np.testing.assert_array_equal(grad, np.zeros_like(logp))
  # Near ratio 1 it is second order: O(d^2 / 2), not O(d).
  d = 1e-3
  np.testing.assert_allclose(kl.kl_estimate(jnp.zeros(()), jnp.full((), d), "k3"), d * d / 2,
                             rtol=1e-3)


def test_extreme_log_ratio_stays_finite():
  got = kl.kl_estimate(jnp.array([-200.0, 0.0]), jnp.array([0.0, -200.0]), "k3")
  assert np.all(np.isfinite(got))


def test_bad_kind_names_it():
  with pytest.raises(ValueError, match="k4"):
    kl.kl_estimate(jnp.zeros((1, 1)), jnp.zeros((1, 1)), "k4")


def test_last_token_onehot_with_holes_and_empty_row():
  mask = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]], np.float32)
  want = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]], np.float32)
  np.testing.assert_array_equal(kl.last_token_onehot(mask), want)


def test_kl_penalized_token_rewards_hand_example():
  mask = np.array([[1, 1, 1, 0], [0, 0, 0, 0]], np.float32)
  kl_NxT = np.array([[0.1, 0.2, 0.3, 9.0], [5.0, 5.0, 5.0, 5.0]], np.float32)
  got = kl.kl_penalized_token_rewards(jnp.array([2.0, 1.0]), mask, kl_NxT, kl_coef=0.5)
  want = np.array([[-0.05, -0.1, 2.0 - 0.15, 0.0], [0.0, 0.0, 0.0, 0.0]])
  np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
  # No KL: the outcome reward alone, at the last real token.
  got = kl.kl_penalized_token_rewards(jnp.array([2.0, 1.0]), mask)
  np.testing.assert_allclose(got, [[0, 0, 2, 0], [0, 0, 0, 0]])


def test_kl_penalized_rewards_matches_numpy_and_has_no_gradient():
  rng = np.random.default_rng(3)
  mask = rng.random((5, 6)) > 0.4
  kl_NxT = rng.random((5, 6)).astype(np.float32)
  kl_NxT[~mask] = np.nan  # Padding may hold anything.
  rewards = rng.normal(size=5).astype(np.float32)
  got = kl.kl_penalized_rewards(rewards, kl_NxT, mask, 0.1)
  want = rewards - 0.1 * np.where(mask, kl_NxT.astype(np.float64), 0.0).sum(1)
  np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
  g = jax.grad(lambda k: jnp.sum(kl.kl_penalized_rewards(rewards, k, mask, 0.1)))(
      jnp.nan_to_num(jnp.asarray(kl_NxT)))
  np.testing.assert_array_equal(g, 0.0)


def test_kl_penalties_are_taken_in_float32_from_bfloat16_kl():
  """A bfloat16 KL (log-probs from a bf16 policy) is penalized in float32: 0.1 * 3.0 is 0.3,
  not bf16's 0.30078125 (the gap, 7.8e-4, is far above float32 rounding)."""
  mask = jnp.array([[1.0, 1.0, 0.0]])
  kl_bf16 = jnp.full((1, 3), 3.0, jnp.bfloat16)  # 3.0 is exact in bfloat16.
  tok = kl.kl_penalized_token_rewards(jnp.array([1.0]), mask, kl_bf16, kl_coef=0.1)
  assert tok.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(tok), [[-0.3, 1.0 - 0.3, 0.0]], rtol=1e-6, atol=1e-7)
  seq = kl.kl_penalized_rewards(jnp.array([1.0]), kl_bf16, mask, kl_coef=0.1)
  assert seq.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(seq), [1.0 - 0.6], rtol=1e-6, atol=1e-7)


def test_token_rewards_without_a_coefficient_take_no_kl():
  """kl_coef defaults to 0: passing a KL alone leaves the outcome rewards as they are."""
  mask = jnp.array([[1.0, 1.0, 1.0, 0.0]])
  out = kl.kl_penalized_token_rewards(jnp.array([2.0]), mask, jnp.ones((1, 4)))
  np.testing.assert_array_equal(np.asarray(out), [[0.0, 0.0, 2.0, 0.0]])


def test_the_default_estimator_is_k3():
  """GRPO's estimator is what a caller gets without naming one."""
  logp, ref = jnp.array([[-1.0, -2.0]]), jnp.array([[-1.5, -0.5]])
  np.testing.assert_array_equal(np.asarray(kl.kl_estimate(logp, ref)),
                                np.asarray(kl.kl_estimate(logp, ref, "k3")))


@pytest.mark.parametrize("kind, expected", [("k1", [-20.0, 20.0]), ("k2", [200.0, 200.0]),
                                            ("k3", [kl.MAX_K3, kl.MAX_K3])])
def test_log_ratios_are_clipped_to_20_nats_both_ways(kind, expected):
  """log(pi_ref / pi) of +100 and -100 nats count as +-20 (MAX_LOG_RATIO) in every estimator,
  and k3's gradient stays finite there (unclipped, exp(100) overflows to inf, and 0 * inf in
  the clamped branch's backward is NaN)."""
  logp, ref = jnp.array([[-100.0, 0.0]]), jnp.array([[0.0, -100.0]])
  np.testing.assert_allclose(np.asarray(kl.kl_estimate(logp, ref, kind)), [expected],
                             rtol=1e-6)
  grad = jax.grad(lambda lp: jnp.sum(kl.kl_estimate(lp, ref, kind)))(logp)
  assert np.all(np.isfinite(np.asarray(grad)))
