"""Policy losses against a NumPy float64 reference, gradient checks, aggregation invariances."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax.rl import losses
from r1jax.rl.losses import LossConfig

# float32 exp/log/sums over <100 O(1) terms agree with float64 to ~1e-6 relative.
RTOL, ATOL = 2e-5, 2e-6


# ----------------------------------------------------------------------------- NumPy reference.
def _np_kl(logp, ref, kind):
  d = ref - logp
  return {"k1": -d, "k2": 0.5 * d ** 2, "k3": np.exp(d) - d - 1.0}[kind]


def _np_aggregate(x, m, mode, norm_len):
  N, T = x.shape
  if mode == "token_mean":
    n = m.sum()
    return sum(x[i, t] for i in range(N) for t in range(T) if m[i, t]) / n if n else 0.0
  if mode == "seq_mean_token_sum_norm":
    # Dr. GRPO: a constant divisor, every row (empty or filtered) counted.
    return sum(x[i, t] for i in range(N) for t in range(T) if m[i, t]) / ((norm_len or T) * N)
  per_seq = []
  for i in range(N):
    L = int(m[i].sum())
    if L == 0:
      continue
    per_seq.append(sum(x[i, t] for t in range(T) if m[i, t]) / L)
  return float(np.mean(per_seq)) if per_seq else 0.0


def _np_policy_loss(name, logp, old, adv, mask, cfg, ref=None, ent=None):
  logp, old, adv = (np.asarray(a, np.float64) for a in (logp, old, adv))
  m = np.asarray(mask).astype(bool)
  N, T = logp.shape
  if name == "ppo_clip":
    ratio = np.exp(logp - old)
  else:
    ratio = np.zeros((N, T))
    for i in range(N):
      L = m[i].sum()
      seq_lr = (logp[i] - old[i])[m[i]].sum() / L if L else 0.0
      ratio[i, :] = np.exp(seq_lr)
  pg = np.maximum(-adv * ratio, -adv * np.clip(ratio, 1 - cfg.eps_low, 1 + cfg.eps_high))
  if cfg.dual_clip_c is not None:
    pg = np.where(adv < 0, np.minimum(pg, -adv * cfg.dual_clip_c), pg)
  agg = lambda x: _np_aggregate(x, m, cfg.aggregation, cfg.norm_len)
  tmean = lambda x: x[m].mean() if m.any() else 0.0
  out = {"pg_loss": agg(pg), "kl": 0.0, "kl_loss": 0.0, "entropy": 0.0, "entropy_loss": 0.0}
  if ref is not None:
    k = _np_kl(logp, np.asarray(ref, np.float64), cfg.kl_estimator)
    out["kl"] = tmean(k)
    out["kl_loss"] = cfg.kl_coef * agg(k) if cfg.kl_in_loss else 0.0
  if ent is not None:
    ent = np.asarray(ent, np.float64)
    out["entropy"] = tmean(ent)
    out["entropy_loss"] = -cfg.entropy_coef * agg(ent)
  out["loss"] = out["pg_loss"] + out["kl_loss"] + out["entropy_loss"]
  frac = lambda c: tmean(c.astype(np.float64))
  out["clip_frac_low"] = frac((adv < 0) & (ratio < 1 - cfg.eps_low))
  out["clip_frac_high"] = frac((adv > 0) & (ratio > 1 + cfg.eps_high))
  out["clip_frac"] = out["clip_frac_low"] + out["clip_frac_high"]
  c = cfg.dual_clip_c
  out["dual_clip_frac"] = 0.0 if c is None else frac((adv < 0) & (ratio > c))
  lr = logp - old
  out["approx_kl"] = tmean(np.exp(lr) - 1 - lr)
  out["ratio_mean"] = tmean(ratio)
  out["ratio_min"] = ratio[m].min() if m.any() else 0.0
  out["ratio_max"] = ratio[m].max() if m.any() else 0.0
  out["adv_mean"] = tmean(adv)
  out["adv_std"] = adv[m].std() if m.any() else 0.0
  out["num_tokens"] = float(m.sum())
  out["num_seqs"] = float(m.any(1).sum())
  return out


def _batch(seed=0, N=6, T=9):
  """Random masked batch with holes, an empty row, and tokens on every side of the clip."""
  rng = np.random.default_rng(seed)
  mask = (rng.random((N, T)) > 0.3).astype(np.float32)
  mask[0, :4] = 1.0
  mask[2] = 0.0
  old = rng.normal(-2.0, 1.0, (N, T)).astype(np.float32)
  logp = (old + rng.normal(0.0, 0.4, (N, T))).astype(np.float32)
  logp[0, 0] = old[0, 0] + 1.5  # Ratio ~4.5 with A < 0: dual-clip territory.
  adv = rng.normal(0.0, 1.0, (N, T)).astype(np.float32)
  adv[0, 0] = -1.0
  ref = (logp + rng.normal(0.0, 0.3, (N, T))).astype(np.float32)
  ent = rng.random((N, T)).astype(np.float32) * 3.0
  return logp, old, adv, mask, ref, ent


# ------------------------------------------------------------------------ Values and metrics.
@pytest.mark.parametrize("name", ["ppo_clip", "gspo"])
@pytest.mark.parametrize("aggregation", losses.AGGREGATIONS)
@pytest.mark.parametrize("dual_clip_c", [None, 3.0])
def test_policy_loss_matches_numpy(name, aggregation, dual_clip_c):
  logp, old, adv, mask, ref, ent = _batch()
  cfg = LossConfig(eps_low=0.2, eps_high=0.28, dual_clip_c=dual_clip_c, aggregation=aggregation,
                   kl_coef=0.05, entropy_coef=0.01)
  loss, metrics = losses.policy_loss(name, logp, old, adv, mask, cfg, ref, ent)
  want = _np_policy_loss(name, logp, old, adv, mask, cfg, ref, ent)
  assert set(metrics) == set(want)
  np.testing.assert_allclose(loss, want["loss"], rtol=RTOL, atol=ATOL)
  for k, v in want.items():
    assert metrics[k].shape == () and metrics[k].dtype == jnp.float32, k
    np.testing.assert_allclose(metrics[k], v, rtol=RTOL, atol=ATOL, err_msg=k)
  if name == "ppo_clip":  # The batch really exercises every clip branch.
    assert want["clip_frac_low"] > 0 and want["clip_frac_high"] > 0
    assert dual_clip_c is None or want["dual_clip_frac"] > 0


@pytest.mark.parametrize("kind", ["k1", "k2", "k3"])
def test_kl_estimator_choice_and_reward_mode(kind):
  logp, old, adv, mask, ref, _ = _batch(1)
  for in_loss in (True, False):
    if kind == "k1" and in_loss:
      with pytest.raises(ValueError) as e:
        LossConfig(kl_coef=0.1, kl_estimator=kind, kl_in_loss=True)
      assert str(e.value) == ("LossConfig.kl_estimator='k1' cannot be a loss term (its expected "
                              "gradient is zero); use k2 or k3, or put the KL in the reward")
      continue
    cfg = LossConfig(kl_coef=0.1, kl_estimator=kind, kl_in_loss=in_loss,
                     aggregation="seq_mean_token_mean")
    loss, metrics = losses.policy_loss("ppo_clip", logp, old, adv, mask, cfg, ref)
    want = _np_policy_loss("ppo_clip", logp, old, adv, mask, cfg, ref)
    for k in ("loss", "kl", "kl_loss", "pg_loss"):
      np.testing.assert_allclose(metrics[k], want[k], rtol=RTOL, atol=ATOL, err_msg=k)
    if not in_loss:
      assert float(metrics["kl_loss"]) == 0.0 and float(loss) == float(metrics["pg_loss"])


@pytest.mark.parametrize("coef", [0.0, 0.5, 1.0, 2.0, -0.1])
def test_entropy_bonus_at_any_weight(coef):
  """The bonus is -coef * aggregated entropy at every weight (1.0 and negatives included), and
  the entropy is reported even at weight 0."""
  logp, old, adv, mask, _, ent = _batch(3)
  cfg = LossConfig(entropy_coef=coef, aggregation="seq_mean_token_mean")
  loss, metrics = losses.policy_loss("ppo_clip", logp, old, adv, mask, cfg, entropy_NxT=ent)
  want = _np_policy_loss("ppo_clip", logp, old, adv, mask, cfg, ent=ent)
  assert want["entropy"] > 0 and (coef == 0) == (want["entropy_loss"] == 0)
  for k in ("loss", "entropy", "entropy_loss", "pg_loss"):
    np.testing.assert_allclose(metrics[k], want[k], rtol=RTOL, atol=ATOL, err_msg=k)


def test_every_metric_is_documented():
  logp, old, adv, mask, ref, ent = _batch()
  _, metrics = losses.policy_loss("ppo_clip", logp, old, adv, mask, LossConfig(), ref, ent)
  for k in metrics:
    assert f"| {k} " in losses.__doc__, k


def test_jit_and_fully_masked_batch_gives_zeros():
  logp, old, adv, _, ref, ent = _batch()
  mask = np.zeros_like(logp)
  for name in losses.POLICY_LOSSES:
    for agg in losses.AGGREGATIONS:
      cfg = LossConfig(aggregation=agg, kl_coef=0.1, entropy_coef=0.01, dual_clip_c=3.0)
      f = jax.jit(lambda lp: losses.policy_loss(name, lp, old, adv, mask, cfg, ref, ent))
      (loss, metrics), grad = jax.value_and_grad(f, has_aux=True)(jnp.asarray(logp))
      assert float(loss) == 0.0
      for k, v in metrics.items():
        assert float(v) == 0.0, (name, agg, k)
      np.testing.assert_array_equal(grad, 0.0)


@pytest.mark.parametrize("name", ["ppo_clip", "gspo"])
def test_padding_garbage_never_leaks(name):
  logp, old, adv, mask, ref, ent = _batch(2)
  pad = mask == 0
  dirty = lambda x, v: np.where(pad, v, x).astype(np.float32)
  cfg = LossConfig(kl_coef=0.1, entropy_coef=0.01, aggregation="seq_mean_token_mean")
  f = lambda lp, o, a, r, e: losses.policy_loss(name, lp, o, a, mask, cfg, r, e)
  (clean, _), g_clean = jax.value_and_grad(f, has_aux=True)(logp, old, adv, ref, ent)
  (dirty_loss, metrics), g_dirty = jax.value_and_grad(f, has_aux=True)(
      dirty(logp, -np.inf), dirty(old, np.nan), dirty(adv, 1e30), dirty(ref, np.inf),
      dirty(ent, np.nan))
  assert float(dirty_loss) == float(clean)
  assert all(np.isfinite(float(v)) for v in metrics.values())
  np.testing.assert_array_equal(g_dirty, g_clean)
  np.testing.assert_array_equal(np.asarray(g_dirty)[pad], 0.0)


# ------------------------------------------------------------------------- Gradient checks.
def _grad_logp(name, logp, old, adv, mask, cfg):
  f = lambda lp: losses.policy_loss(name, lp, old, adv, mask, cfg)[0]
  return np.asarray(jax.grad(f)(jnp.asarray(logp)), np.float64)


def test_gradient_inside_trust_region_is_advantage_weighted_logprob_gradient():
  """At ratio 1 the loss gradient wrt model params equals that of -mean_t(A_t log pi_t)."""
  rng = np.random.default_rng(4)
  N, T, V, D = 4, 5, 7, 3
  x = jnp.asarray(rng.normal(size=(N, T, D)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(D, V)), jnp.float32)
  tokens = jnp.asarray(rng.integers(0, V, (N, T)))
  mask = (rng.random((N, T)) > 0.3).astype(np.float32)
  adv = rng.normal(size=(N, T)).astype(np.float32)
  logp_of = lambda w: losses.token_logprobs(jnp.einsum("ntd,dv->ntv", x, w), tokens)
  old = jax.lax.stop_gradient(logp_of(w))
  cfg = LossConfig(eps_low=0.2, eps_high=0.28)
  g = jax.grad(lambda w: losses.policy_loss("ppo_clip", logp_of(w), old, adv, mask, cfg)[0])(w)
  g_ref = jax.grad(lambda w: -jnp.sum(adv * logp_of(w) * mask) / mask.sum())(w)
  np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-6)
  # Inside the trust region (|log r| < 0.1) the per-token gradient is -A r / num_tokens.
  logp = np.asarray(old) + rng.uniform(-0.1, 0.1, (N, T)).astype(np.float32)
  got = _grad_logp("ppo_clip", logp, old, adv, mask, cfg)
  want = -adv * np.exp(logp - np.asarray(old, np.float64)) * mask / mask.sum()
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_gradient_is_zero_on_the_clipped_side_only():
  # Columns: (A>0, r high) clipped; (A<0, r low) clipped; (A>0, r low) and (A<0, r high)
  # unclipped; (A<0, r 4.5) dual-clipped when c = 3.
  adv = np.array([[1.0, -1.0, 1.0, -1.0, -1.0]], np.float32)
  log_r = np.log(np.array([[1.5, 0.5, 0.5, 1.5, 4.5]]))
  old = np.full((1, 5), -1.0, np.float32)
  logp = (old + log_r).astype(np.float32)
  mask = np.ones((1, 5), np.float32)
  ratio = np.exp(log_r)
  unclipped = -adv * ratio / 5.0
  for c, want_zero in ((None, [0, 1]), (3.0, [0, 1, 4])):
    cfg = LossConfig(eps_low=0.2, eps_high=0.28, dual_clip_c=c)
    got = _grad_logp("ppo_clip", logp, old, adv, mask, cfg)[0]
    want = np.where(np.isin(np.arange(5), want_zero), 0.0, unclipped[0])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    _, m = losses.policy_loss("ppo_clip", logp, old, adv, mask, cfg)
    np.testing.assert_allclose([m["clip_frac_high"], m["clip_frac_low"], m["dual_clip_frac"]],
                               [0.2, 0.2, 0.0 if c is None else 0.2], rtol=1e-6)


def test_clip_fractions_count_only_tokens_whose_gradient_is_cut():
  """Zero-advantage tokens are never counted as clipped, whatever their ratio; and a token
  exactly at the clip boundary is not clipped: on-policy (ratio exactly 1) with eps 0 nothing
  is, although 1 - eps_low = 1 + eps_high = 1."""
  adv = np.array([[0.0, 0.0, 0.0, -1.0, 1.0, 1.0]], np.float32)
  ratio = np.array([[0.5, 1.5, 4.5, 0.5, 1.5, 1.0]])
  old = np.full((1, 6), -1.0, np.float32)
  logp = (old + np.log(ratio)).astype(np.float32)
  mask = np.ones((1, 6), np.float32)
  cfg = LossConfig(eps_low=0.2, eps_high=0.2, dual_clip_c=3.0)
  _, m = losses.policy_loss("ppo_clip", logp, old, adv, mask, cfg)
  np.testing.assert_allclose([m["clip_frac_low"], m["clip_frac_high"], m["dual_clip_frac"]],
                             [1 / 6, 1 / 6, 0.0], rtol=1e-6)
  signs = np.array([[-1.0, 1.0, -1.0, 1.0]], np.float32)
  on_policy = np.full((1, 4), -1.0, np.float32)
  _, m = losses.policy_loss("ppo_clip", on_policy, on_policy, signs, np.ones((1, 4)),
                            LossConfig(eps_low=0.0, eps_high=0.0))
  assert float(m["ratio_min"]) == float(m["ratio_max"]) == 1.0
  assert [float(m[k]) for k in ("clip_frac_low", "clip_frac_high", "clip_frac")] == [0, 0, 0]
  # The dual clip's boundary: c set to the largest ratio exactly (as the loss computes it).
  c = float(losses.policy_loss("ppo_clip", logp, old, adv, mask, LossConfig())[1]["ratio_max"])
  assert c > 1.0
  dual = -np.ones_like(adv)
  _, m = losses.policy_loss("ppo_clip", logp, old, dual, mask, LossConfig(dual_clip_c=c))
  assert float(m["dual_clip_frac"]) == 0.0
  _, m = losses.policy_loss("ppo_clip", logp, old, dual, mask,
                            LossConfig(dual_clip_c=float(np.nextafter(np.float32(c), 0))))
  np.testing.assert_allclose(m["dual_clip_frac"], 1 / 6, rtol=1e-6)


def test_gspo_gradient_is_sequence_level():
  """With seq_mean_token_mean and per-sequence A, grad = grad of -mean_i A_i s_i (unclipped)."""
  rng = np.random.default_rng(5)
  N, T = 3, 6
  mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]], np.float32)
  old = rng.normal(-2, 1, (N, T)).astype(np.float32)
  logp = (old + rng.uniform(-0.1, 0.1, (N, T))).astype(np.float32)
  adv = np.repeat(rng.normal(size=(N, 1)), T, 1).astype(np.float32)
  cfg = LossConfig(aggregation="seq_mean_token_mean")
  got = _grad_logp("gspo", logp, old, adv, mask, cfg)

  def seq_objective(lp):
    s = jnp.exp(jnp.sum((lp - old) * mask, 1) / mask.sum(1))
    return -jnp.mean(adv[:, 0] * s)
  np.testing.assert_allclose(got, jax.grad(seq_objective)(jnp.asarray(logp)), rtol=1e-5,
                             atol=1e-7)
  # Clipped sequences (A > 0, s > 1 + eps) get no gradient at all.
  logp_far = old + 0.5 * mask
  got = _grad_logp("gspo", logp_far, old, np.abs(adv), mask, cfg)
  np.testing.assert_array_equal(got, 0.0)


# ------------------------------------------------------------------ Aggregation invariances.
def _two_lengths():
  """Two sequences, lengths 2 and 6 of T = 8, same advantage, ratio 1."""
  mask = np.zeros((2, 8), np.float32)
  mask[0, :2] = 1.0
  mask[1, :6] = 1.0
  logp = np.full((2, 8), -1.0, np.float32)
  return logp, logp.copy(), np.ones((2, 8), np.float32), mask


def test_dr_grpo_has_no_per_sequence_length_normalisation():
  logp, old, adv, mask = _two_lengths()
  cfg = LossConfig(aggregation="seq_mean_token_sum_norm", norm_len=10)
  g = _grad_logp("ppo_clip", logp, old, adv, mask, cfg)
  # Every real token of either sequence gets -A / (num_seqs * norm_len).
  np.testing.assert_allclose(g, -mask / (2 * 10), rtol=1e-6)
  loss, _ = losses.policy_loss("ppo_clip", logp, old, adv, mask, cfg)
  np.testing.assert_allclose(loss, -(2 + 6) / (2 * 10), rtol=1e-6)
  # norm_len=None means T.
  g_t = _grad_logp("ppo_clip", logp, old, adv, mask, dataclasses.replace(cfg, norm_len=None))
  np.testing.assert_allclose(g_t, -mask / (2 * 8), rtol=1e-6)
  # The GRPO mode, by contrast, weighs a token by 1 / its sequence's length.
  g_seq = _grad_logp("ppo_clip", logp, old, adv, mask,
                     LossConfig(aggregation="seq_mean_token_mean"))
  np.testing.assert_allclose(g_seq[0, :2], -1 / (2 * 2), rtol=1e-6)
  np.testing.assert_allclose(g_seq[1, :6], -1 / (2 * 6), rtol=1e-6)


def test_token_mean_weighs_tokens_equally_across_sequences():
  logp, old, adv, mask = _two_lengths()
  g = _grad_logp("ppo_clip", logp, old, adv, mask, LossConfig(aggregation="token_mean"))
  np.testing.assert_allclose(g, -mask / 8, rtol=1e-6)


def test_empty_rows_do_not_dilute_sequence_means():
  logp, old, adv, mask = _two_lengths()
  pad = lambda x: np.concatenate([x, np.zeros_like(x)])
  for agg in ("token_mean", "seq_mean_token_mean"):
    cfg = LossConfig(aggregation=agg)
    a, _ = losses.policy_loss("ppo_clip", logp, old, adv, mask, cfg)
    b, _ = losses.policy_loss("ppo_clip", pad(logp), pad(old), pad(adv), pad(mask), cfg)
    np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, bool])
def test_denominators_are_the_documented_float32_counts(dtype):
  """Real tokens, rows with a real token, and every row: float32 scalars (what the trainer
  sums over microbatches and divides by), from a float or a bool mask."""
  mask = np.array([[1, 1, 0], [0, 0, 0], [1, 0, 0], [0, 0, 0]]).astype(dtype)
  d = losses.denominators(mask)
  assert [(x.shape, x.dtype) for x in d] == [((), jnp.float32)] * 3
  assert [float(x) for x in d] == [3.0, 2.0, 4.0]


def test_dr_grpo_divisor_is_constant_when_rows_are_filtered():
  """Dr. GRPO divides by norm_len * G rows whatever the mask: masking a row out removes its
  terms but leaves the others' weights unchanged (TRL's dr_grpo loss)."""
  logp, old, adv, mask = _two_lengths()
  cfg = LossConfig(aggregation="seq_mean_token_sum_norm", norm_len=10)
  filtered = mask.copy()
  filtered[1] = 0.0
  g_all = _grad_logp("ppo_clip", logp, old, adv, mask, cfg)
  g_filtered = _grad_logp("ppo_clip", logp, old, adv, filtered, cfg)
  np.testing.assert_allclose(g_filtered[0], g_all[0], rtol=1e-6)
  np.testing.assert_allclose(g_filtered[1], 0.0)


# ----------------------------------------------------------- Log-probs, entropy, validation.
def _np_log_softmax(logits):
  z = logits.astype(np.float64)
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_token_logprobs_matches_numpy_and_is_float32():
  rng = np.random.default_rng(6)
  logits = (rng.normal(size=(3, 4, 11)) * 5).astype(np.float32)
  tokens = rng.integers(0, 11, (3, 4))
  got = jax.jit(losses.token_logprobs)(logits, tokens)
  want = np.take_along_axis(_np_log_softmax(logits), tokens[..., None], -1)[..., 0]
  assert got.dtype == jnp.float32
  np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-5)
  got_bf16 = losses.token_logprobs(jnp.asarray(logits, jnp.bfloat16), tokens)
  assert got_bf16.dtype == jnp.float32


def test_entropy_from_logits_matches_numpy_and_is_stable():
  rng = np.random.default_rng(7)
  logits = (rng.normal(size=(2, 3, 9)) * 3).astype(np.float32)
  entropy = jax.jit(losses.entropy_from_logits)  # One shape throughout: one compilation.
  grad = jax.jit(jax.grad(lambda z: jnp.sum(losses.entropy_from_logits(z))))
  lp = _np_log_softmax(logits)
  want = -(np.exp(lp) * lp).sum(-1)
  np.testing.assert_allclose(entropy(logits), want, rtol=RTOL, atol=1e-5)
  # Shift invariance with huge logits (float32 spacing at 1e4 is ~1e-3), and log V if uniform.
  np.testing.assert_allclose(entropy(logits + 1e4), want, rtol=1e-2, atol=1e-2)
  np.testing.assert_allclose(entropy(np.zeros_like(logits)), np.full(want.shape, np.log(9)),
                             rtol=1e-6)
  # Masked vocabulary (-inf logits): the entropy of the rest, and a finite gradient.
  masked = logits.copy()
  masked[..., 5:] = -np.inf
  lp_kept = _np_log_softmax(logits[..., :5])
  np.testing.assert_allclose(entropy(masked), -(np.exp(lp_kept) * lp_kept).sum(-1), rtol=RTOL,
                             atol=1e-5)
  assert np.all(np.isfinite(grad(masked)))
  # Analytic gradient dH/dz_k = -p_k (log p_k + H), in float64.
  p = np.exp(lp)
  np.testing.assert_allclose(grad(logits), -p * (lp + want[..., None]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("field,value,message", [
    ("eps_low", 1.0, "LossConfig.eps_low=1.0 must be in [0, 1)"),
    ("eps_low", -0.1, "LossConfig.eps_low=-0.1 must be in [0, 1)"),
    ("eps_high", -0.1, "LossConfig.eps_high=-0.1 must be >= 0"),
    ("dual_clip_c", 1.0, "LossConfig.dual_clip_c=1.0 must be > 1 (or None)"),
    ("aggregation", "sum", "LossConfig.aggregation='sum'; expected one of ('token_mean', "
     "'seq_mean_token_mean', 'seq_mean_token_sum_norm')"),
    ("norm_len", 0, "LossConfig.norm_len=0 must be > 0 (or None)"),
    ("kl_coef", -1.0, "LossConfig.kl_coef=-1.0 must be >= 0"),
    ("kl_estimator", "k9", "LossConfig.kl_estimator='k9'; expected one of ['k1', 'k2', 'k3']")])
def test_config_errors_name_the_field(field, value, message):
  """The whole message: the field, the bad value and what is allowed."""
  with pytest.raises(ValueError) as e:
    LossConfig(**{field: value})
  assert str(e.value) == message


def test_call_errors_are_clear():
  logp, old, adv, mask, ref, ent = _batch()
  # Whole messages, anchored: each names the bad value or field and what is expected.
  with pytest.raises(ValueError, match=r"^policy loss name='ppo2'; expected one of "
                     r"\['gspo', 'ppo_clip'\]$"):
    losses.policy_loss("ppo2", logp, old, adv, mask, LossConfig())
  with pytest.raises(ValueError, match=r"^LossConfig\.kl_coef > 0 with kl_in_loss=True needs "
                     r"ref_logp_NxT$"):
    losses.policy_loss("ppo_clip", logp, old, adv, mask, LossConfig(kl_coef=0.1))
  with pytest.raises(ValueError, match=r"^LossConfig\.entropy_coef != 0 needs entropy_NxT$"):
    losses.policy_loss("ppo_clip", logp, old, adv, mask, LossConfig(entropy_coef=0.1))
  with pytest.raises(ValueError, match=r"^aggregation mode='sum'; expected one of "
                     r"\('token_mean', 'seq_mean_token_mean', 'seq_mean_token_sum_norm'\)$"):
    losses.aggregate(logp, mask, "sum")  # Called directly, without a validated LossConfig.


# ------------------------------------------- Defaults and edges (mutation-testing survivors).
def test_defaults_are_the_documented_ones():
  assert LossConfig() == LossConfig(eps_low=0.2, eps_high=0.2, dual_clip_c=None,
                                    aggregation="token_mean", norm_len=None, kl_coef=0.0,
                                    kl_estimator="k3", kl_in_loss=True, entropy_coef=0.0)


@pytest.mark.parametrize("kwargs", [
    dict(eps_low=0.0), dict(eps_high=0.0), dict(dual_clip_c=1.001), dict(norm_len=1),
    dict(kl_estimator="k1"),  # k1 with no weight is harmless (the default coefficient is 0).
    dict(kl_estimator="k1", kl_coef=0.1, kl_in_loss=False)])  # k1 reported, not optimised.
def test_edge_values_that_are_valid(kwargs):
  LossConfig(**kwargs)


def test_one_token_rows_and_a_single_sequence():
  """Each real row's weight is 1 / its length, also for length 1; one sequence is its own mean
  (the max(count, 1) guards against empty rows must not touch non-empty ones)."""
  logp = np.full((3, 4), -1.0, np.float32)
  adv = np.array([[2.0], [4.0], [0.0]], np.float32) * np.ones((1, 4), np.float32)
  mask = np.array([[1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], np.float32)
  cfg = LossConfig(aggregation="seq_mean_token_mean")
  loss, m = losses.policy_loss("ppo_clip", logp, logp, adv, mask, cfg)
  np.testing.assert_allclose(loss, -(2.0 + 4.0) / 2, rtol=1e-6)  # Ratio 1: loss = -mean A.
  np.testing.assert_allclose([m["num_seqs"], m["num_tokens"], m["adv_mean"]],
                             [2.0, 5.0, (2.0 + 16.0) / 5], rtol=1e-6)
  one = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], np.float32)
  for agg in losses.AGGREGATIONS[:2]:
    loss, m = losses.policy_loss("ppo_clip", logp, logp, adv, one, LossConfig(aggregation=agg))
    np.testing.assert_allclose([loss, m["adv_mean"], m["ratio_mean"]], [-2.0, 2.0, 1.0],
                               rtol=1e-6, err_msg=agg)
  # A batch of one row: Dr. GRPO divides by norm_len * 1 row (the max(rows, 1) guard is for
  # empty batches only).
  cfg = LossConfig(aggregation="seq_mean_token_sum_norm", norm_len=4)
  loss, _ = losses.policy_loss("ppo_clip", logp[1:2], logp[1:2], adv[1:2], mask[1:2], cfg)
  np.testing.assert_allclose(loss, -4.0 * 4 / (4 * 1), rtol=1e-6)


def test_ratio_extremes_are_clamped_and_ignore_padding():
  """A token drifted by +-100 nats counts as exp(+-MAX_LOG_RATIO); padding (ratio 1 after
  zeroing) is never the minimum or maximum."""
  old = np.zeros((2, 3), np.float32)
  mask = np.array([[1, 1, 0], [1, 0, 0]], np.float32)
  cap = float(np.exp(np.float32(losses.kl_lib.MAX_LOG_RATIO)))
  logp = np.array([[100.0, 0.5, 0.0], [0.25, 0.0, 0.0]], np.float32)
  _, m = losses.policy_loss("ppo_clip", logp, old, np.ones_like(old), mask, LossConfig())
  np.testing.assert_allclose([m["ratio_max"], m["ratio_min"]], [cap, np.exp(0.25)], rtol=1e-6)
  _, m = losses.policy_loss("ppo_clip", -logp, old, np.ones_like(old), mask, LossConfig())
  np.testing.assert_allclose([m["ratio_min"], m["ratio_max"]], [1 / cap, np.exp(-0.25)],
                             rtol=1e-6)
