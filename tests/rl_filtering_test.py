"""DAPO overlong filtering: static shapes, and filtered rows add nothing to the loss."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax.rl import advantages, filtering, losses


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bool_])
def test_overlong_mask_zeroes_truncated_rows(dtype):
  mask = jnp.asarray(np.tril(np.ones((3, 5))), dtype)
  got = jax.jit(filtering.overlong_mask)(jnp.array([False, True, False]), mask)
  assert got.dtype == dtype
  want = np.asarray(mask).copy()
  want[1] = 0
  np.testing.assert_array_equal(got, want)


def test_filtered_rows_contribute_nothing_to_the_loss():
  """Keep mask and overlong mask folded into the batch = the loss of the surviving rows."""
  rng = np.random.default_rng(0)
  G, T = 2, 5
  rewards = jnp.array([1.0, 1.0, 0.0, 1.0, 1.0, 0.0])
  mask = jnp.ones((6, T))
  keep = jnp.array([0.0, 0.0, 1.0, 1.0, 1.0, 1.0])  # The first group's rewards are equal.
  mask = filtering.overlong_mask(jnp.array([0, 0, 0, 0, 1, 0]), mask) * keep[:, None]
  out = advantages.compute_advantages(
      "grpo", advantages.AdvantageInputs(rewards, mask, G, keep_N=keep))
  logp = jnp.asarray(rng.normal(size=(6, T)), jnp.float32)
  old = logp + 0.05
  cfg = losses.LossConfig(aggregation="seq_mean_token_mean")
  loss, metrics = losses.policy_loss("ppo_clip", logp, old, out.advantages_NxT, mask, cfg)
  rows = np.array([2, 3, 5])
  sub, _ = losses.policy_loss("ppo_clip", logp[rows], old[rows], out.advantages_NxT[rows],
                              mask[rows], cfg)
  assert float(metrics["num_seqs"]) == 3.0
  np.testing.assert_allclose(loss, sub, rtol=1e-6)
