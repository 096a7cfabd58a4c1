"""DAPO dynamic-sampling group mask and overlong filtering: static shapes, exact counts."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax.rl import advantages, filtering, losses


def test_group_keep_mask_drops_all_equal_groups():
  rewards = jnp.array([0, 0, 0, 1, 1, 1, 1, 0, 0.5, 0.5, 0.5, 0.5, 2, 0, 0, 0], jnp.float32)
  keep, dropped = jax.jit(filtering.group_keep_mask, static_argnums=1)(rewards, 4)
  np.testing.assert_array_equal(keep, [1] * 4 + [1] * 4 + [0] * 4 + [1] * 4)
  assert keep.dtype == jnp.float32 and keep.shape == (16,)
  assert int(dropped) == 1 and dropped.dtype == jnp.int32
  keep, dropped = filtering.group_keep_mask(rewards, 2)
  np.testing.assert_array_equal(keep, [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0])
  assert int(dropped) == 5


def test_group_keep_mask_rejects_bad_group_size():
  with pytest.raises(ValueError, match="group_size"):
    filtering.group_keep_mask(jnp.zeros(6), 4)


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
  keep, dropped = filtering.group_keep_mask(rewards, G)
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
  assert int(dropped) == 1
  assert float(metrics["num_seqs"]) == 3.0
  np.testing.assert_allclose(loss, sub, rtol=1e-6)
