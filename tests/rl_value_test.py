"""PPO value loss against NumPy float64; the value head on a policy trunk and as a critic."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from r1jax.models import presets
from r1jax.models.transformer import Transformer
from r1jax.rl import losses, value

RTOL, ATOL = 2e-5, 2e-6  # float32 squares and sums of O(1) values vs float64.


def _np_value_loss(v, old, ret, mask, clip_eps, mode):
  v, old, ret = (np.asarray(x, np.float64) for x in (v, old, ret))
  m = np.asarray(mask).astype(bool)
  err = (v - ret) ** 2
  if clip_eps is None:
    loss, clipped = err, np.zeros_like(m)
  else:
    err_c = (old + np.clip(v - old, -clip_eps, clip_eps) - ret) ** 2
    loss, clipped = np.maximum(err, err_c), err_c > err
  if mode == "token_mean":
    agg = loss[m].mean()
  else:
    agg = np.mean([loss[i][m[i]].mean() for i in range(len(m)) if m[i].any()])
  res = (ret - v)[m]
  return {"vf_loss": 0.5 * agg, "vf_clip_frac": clipped[m].mean(), "value_mean": v[m].mean(),
          "return_mean": ret[m].mean(), "explained_var": 1 - res.var() / ret[m].var()}


def _batch(seed=0, N=5, T=6):
  rng = np.random.default_rng(seed)
  mask = (rng.random((N, T)) > 0.3).astype(np.float32)
  mask[1] = 0
  old = rng.normal(size=(N, T)).astype(np.float32)
  v = (old + rng.normal(0, 0.4, (N, T))).astype(np.float32)
  ret = rng.normal(size=(N, T)).astype(np.float32)
  return v, old, ret, mask


@pytest.mark.parametrize("clip_eps", [None, 0.2])
@pytest.mark.parametrize("mode", ["token_mean", "seq_mean_token_mean"])
def test_value_loss_matches_numpy(clip_eps, mode):
  v, old, ret, mask = _batch()
  loss, metrics = value.value_loss(v, old, ret, mask, clip_eps, mode)
  want = _np_value_loss(v, old, ret, mask, clip_eps, mode)
  np.testing.assert_allclose(loss, want["vf_loss"], rtol=RTOL, atol=ATOL)
  for k, w in want.items():
    np.testing.assert_allclose(metrics[k], w, rtol=RTOL, atol=ATOL, err_msg=k)
  if clip_eps is not None:
    assert 0 < want["vf_clip_frac"] < 1


def test_value_loss_defaults_are_clip_0_2_and_token_mean():
  v, old, ret, mask = _batch()
  got = value.value_loss(v, old, ret, mask)
  want = _np_value_loss(v, old, ret, mask, 0.2, "token_mean")
  np.testing.assert_allclose(got[0], want["vf_loss"], rtol=RTOL, atol=ATOL)
  np.testing.assert_allclose(got[1]["vf_clip_frac"], want["vf_clip_frac"], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("norm_len", [None, 10])
def test_value_loss_constant_divisor_reads_norm_len(norm_len):
  """Dr. GRPO's aggregation divides the summed loss by norm_len (default: the row length T)
  times the number of rows, padded rows included."""
  v, old, ret, mask = _batch()  # N=5 rows of T=6 tokens.
  loss, _ = value.value_loss(v, old, ret, mask, 0.2, "seq_mean_token_sum_norm", norm_len)
  v64, old64, ret64 = (np.asarray(x, np.float64) for x in (v, old, ret))
  m = mask.astype(bool)
  err = np.maximum((v64 - ret64) ** 2, (old64 + np.clip(v64 - old64, -0.2, 0.2) - ret64) ** 2)
  want = 0.5 * err[m].sum() / ((norm_len or 6) * 5)
  np.testing.assert_allclose(loss, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("mode", list(losses.AGGREGATIONS))
def test_value_loss_under_gradient_accumulation_sums_to_the_whole_batch(mode):
  """With the whole batch's denominators, the loss of each half adds up to the whole batch's
  loss (what the trainer's gradient accumulation relies on); with each half's own counts it
  does not (the halves hold different numbers of tokens)."""
  v, old, ret, mask = _batch(seed=4, N=6)
  mask[0, :] = 1  # The halves hold different token counts.
  mask[4, :] = 0
  whole = value.value_loss(v, old, ret, mask, 0.2, mode)[0]
  d = losses.denominators(mask)
  halves = [value.value_loss(v[s], old[s], ret[s], mask[s], 0.2, mode, denoms=d)[0]
            for s in (slice(0, 3), slice(3, 6))]
  np.testing.assert_allclose(halves[0] + halves[1], whole, rtol=RTOL, atol=ATOL)
  if mode != "seq_mean_token_sum_norm":  # Equal rows per half: the counts coincide there.
    own = [value.value_loss(v[s], old[s], ret[s], mask[s], 0.2, mode)[0]
           for s in (slice(0, 3), slice(3, 6))]
    assert abs(float(own[0] + own[1]) - float(whole)) > 1e-3


def test_value_loss_gradient_is_zero_where_clipped():
  """The clip binds only where V moved toward R by more than clip_eps (pessimistic max)."""
  old = np.zeros((1, 4), np.float32)
  v = np.array([[0.5, 0.1, -0.5, 0.5]], np.float32)
  ret = np.array([[1.0, 1.0, -1.0, -1.0]], np.float32)  # Tokens 0, 2 overshoot the clip.
  f = lambda x: value.value_loss(x, old, ret, np.ones((1, 4)), 0.2)
  g = jax.grad(lambda x: f(x)[0])(jnp.asarray(v))
  np.testing.assert_allclose(g, [[0.0, (0.1 - 1.0) / 4, 0.0, (0.5 + 1.0) / 4]], rtol=1e-6)
  np.testing.assert_allclose(f(v)[1]["vf_clip_frac"], 0.5)


def test_value_loss_fully_masked_is_zero():
  v, old, ret, _ = _batch()
  (loss, metrics), g = jax.value_and_grad(value.value_loss, has_aux=True)(
      jnp.asarray(v), old, ret, np.zeros_like(v))
  assert float(loss) == 0.0 and all(float(x) == 0.0 for x in metrics.values())
  np.testing.assert_array_equal(g, 0.0)
  with pytest.raises(ValueError, match="clip_eps"):
    value.value_loss(v, old, ret, np.ones_like(v), clip_eps=0.0)


def test_critic_is_value_head_on_trunk_hidden_states():
  cfg = presets.get("tiny")
  toks = jnp.asarray(np.random.default_rng(1).integers(0, cfg.vocab_size, (2, 6)), jnp.int32)
  critic = value.Critic(cfg, head_hidden_dim=16)
  params = jax.jit(critic.init)(jax.random.key(2), toks)["params"]
  assert set(params) == {"trunk", "value_head"}
  # A policy checkpoint's params have exactly the trunk's tree, so they can initialise it.
  policy_shapes = jax.eval_shape(Transformer(cfg).init, jax.random.key(0), toks)["params"]
  assert jax.tree.structure(policy_shapes) == jax.tree.structure(params["trunk"])
  apply = jax.jit(critic.apply)
  np.testing.assert_array_equal(apply({"params": params}, toks), 0.0)  # Zero-initialised head.

  # Off zero: the critic equals the head applied to the policy trunk's final hidden states.
  params["value_head"] = jax.tree.map(lambda x: x + 0.1, params["value_head"])
  v = apply({"params": params}, toks)
  hidden, _ = jax.jit(lambda p, t: Transformer(cfg).apply({"params": p}, t, return_hidden=True))(
      params["trunk"], toks)
  head = value.ValueHead(hidden_dim=16)
  v_head = head.apply({"params": params["value_head"]}, hidden)
  assert v.shape == (2, 6) and v.dtype == jnp.float32 and float(jnp.max(jnp.abs(v))) > 0
  np.testing.assert_allclose(v, v_head, rtol=1e-5, atol=1e-6)

  def hidden_grad(stop):
    f = lambda h: jnp.sum(value.ValueHead(16, stop).apply({"params": params["value_head"]}, h))
    return jax.grad(f)(hidden)
  assert float(jnp.max(jnp.abs(hidden_grad(False)))) > 0
  np.testing.assert_array_equal(hidden_grad(True), 0.0)  # No gradient into a shared trunk.


def test_value_head_fits_returns():
  """A few Adam steps of the linear head on fixed features drive the value loss down 10x."""
  rng = np.random.default_rng(3)
  hidden = jnp.asarray(rng.normal(size=(4, 8, 16)), jnp.float32)
  ret = hidden @ jnp.asarray(rng.normal(size=(16,)), jnp.float32)
  mask = jnp.ones((4, 8))
  head = value.ValueHead()
  params = head.init(jax.random.key(0), hidden)["params"]
  opt = optax.adam(0.05)
  state = opt.init(params)
  loss_fn = lambda p: value.value_loss(head.apply({"params": p}, hidden), ret, ret, mask, None)[0]

  @jax.jit
  def step(p, s):
    loss, g = jax.value_and_grad(loss_fn)(p)
    u, s = opt.update(g, s)
    return optax.apply_updates(p, u), s, loss
  first = None
  for _ in range(100):
    params, state, loss = step(params, state)
    first = loss if first is None else first
  assert float(loss_fn(params)) < 0.1 * float(first)
