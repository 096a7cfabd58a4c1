"""Tests of r1jax.sampling.processors against NumPy float64 references and by sampling."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax.sampling import processors as procs
from r1jax.sampling.sampler import SamplerConfig

V = 32
N = 4


def _logits(seed, n=N, v=V, scale=2.0):
  return np.random.default_rng(seed).normal(size=(n, v)).astype(np.float32) * scale


def _state(n=N, t_max=8, **kw):
  return procs.init_state(n, t_max, pad_id=0)._replace(**kw)


def _softmax64(x):
  x = np.asarray(x, np.float64)
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def _kept(x):
  return np.isfinite(np.asarray(x))


def test_temperature_divides():
  x = _logits(0)
  np.testing.assert_allclose(procs.temperature(x, _state(), value=0.5), x / 0.5, rtol=1e-6)


@pytest.mark.parametrize("k", [1, 3, V])
def test_top_k_keeps_k_largest(k):
  x = _logits(1)
  out = procs.top_k(x, _state(), k=k)
  ref = np.argsort(-x, axis=-1)[:, :k]
  for r in range(N):
    assert set(np.flatnonzero(_kept(out[r]))) == set(ref[r])
    np.testing.assert_array_equal(np.asarray(out[r])[ref[r]], x[r, ref[r]])


@pytest.mark.parametrize("p", [0.05, 0.5, 0.9, 0.999])
def test_top_p_keeps_nucleus(p):
  x = _logits(2)
  out = procs.top_p(x, _state(), p=p)
  probs = _softmax64(x)
  for r in range(N):
    order = np.argsort(-probs[r])
    mass_before = np.cumsum(probs[r][order]) - probs[r][order]
    nucleus = set(order[mass_before < p])
    assert set(np.flatnonzero(_kept(out[r]))) == nucleus
    # Smallest set with mass >= p: dropping its least likely member falls below p.
    assert probs[r][sorted(nucleus)].sum() >= p - 1e-6


@pytest.mark.parametrize("p", [0.01, 0.3, 0.9])
def test_min_p_keeps_relative_floor(p):
  x = _logits(3)
  out = procs.min_p(x, _state(), p=p)
  probs = _softmax64(x)
  ref = probs >= p * probs.max(-1, keepdims=True)
  np.testing.assert_array_equal(_kept(out), ref)


def test_tip_penalises_only_switch_tokens_inside_window():
  x = _logits(4)
  # Rows: thought started at 0, 5, 2, 9; step 6, beta 4 -> in window iff 6 < start + 4.
  st = _state(step=jnp.int32(6), thought_start_N=jnp.array([0, 5, 2, 9], jnp.int32))
  out = np.asarray(procs.tip(x, st, token_ids=(3, 7), alpha=2.5, beta=4))
  in_window = np.array([False, True, False, True])
  expect = x.copy()
  expect[in_window[:, None] & np.isin(np.arange(V), [3, 7])[None]] -= 2.5
  np.testing.assert_allclose(out, expect, rtol=0, atol=1e-6)


def test_build_processors_order_and_switches():
  off = SamplerConfig(max_new_tokens=4, eos_id=-1)
  assert procs.build_processors(off) == ()
  cfg = SamplerConfig(max_new_tokens=4, eos_id=-1, temperature=0.5, top_k=4, top_p=0.8,
                      min_p=0.1, tip_token_ids=(1,), tip_alpha=3.0, tip_beta=10)
  chain = procs.build_processors(cfg)
  assert len(chain) == 5
  x = _logits(5)
  st = _state()
  expect = procs.tip(x, st, token_ids=(1,), alpha=3.0, beta=10) / 0.5
  expect = procs.min_p(procs.top_p(procs.top_k(expect, st, k=4), st, p=0.8), st, p=0.1)
  np.testing.assert_array_equal(procs.apply_processors(x, st, chain), expect)
  with pytest.raises(ValueError, match="unknown processor"):
    procs.build_processors(cfg, names=("top_k", "nope"))


@functools.partial(jax.jit, static_argnums=(2, 3))
def _draw(key, logits_V, processor, num):
  keys = jax.random.split(key, num)
  x = jnp.broadcast_to(processor(logits_V[None], None)[0], (num, logits_V.shape[0]))
  return jax.vmap(jax.random.categorical)(keys, x)


def _chi2_pvalue(counts, probs):
  # Imported here: every xdist worker imports every test module to collect it, and scipy.stats
  # costs ~1 CPU-s.
  from scipy import stats  # pylint: disable=g-import-not-at-top
  expected = probs * counts.sum()
  keep = expected >= 5  # Pool sparse cells so the chi-square approximation holds.
  obs = np.append(counts[keep], counts[~keep].sum())
  exp = np.append(expected[keep], expected[~keep].sum())
  if exp[-1] == 0:
    obs, exp = obs[:-1], exp[:-1]
  return stats.chisquare(obs, exp).pvalue


def test_sampling_never_leaves_top_k_and_matches_renormalised_softmax():
  x = _logits(6, n=1)[0]
  counts = np.bincount(np.asarray(_draw(jax.random.key(0), x,
                                        functools.partial(procs.top_k, k=6), 20000)),
                       minlength=V)
  top = np.argsort(-x)[:6]
  assert set(np.flatnonzero(counts)) <= set(top)
  probs = np.zeros(V)
  probs[top] = _softmax64(x[top])
  assert _chi2_pvalue(counts, probs) > 1e-3


def test_sampling_never_leaves_nucleus():
  x = _logits(7, n=1)[0]
  counts = np.bincount(np.asarray(_draw(jax.random.key(1), x,
                                        functools.partial(procs.top_p, p=0.7), 20000)),
                       minlength=V)
  probs = _softmax64(x)
  order = np.argsort(-probs)
  nucleus = order[(np.cumsum(probs[order]) - probs[order]) < 0.7]
  assert set(np.flatnonzero(counts)) <= set(nucleus)
  ref = np.zeros(V)
  ref[nucleus] = probs[nucleus] / probs[nucleus].sum()
  assert _chi2_pvalue(counts, ref) > 1e-3


def test_sampling_at_temperature_one_matches_softmax():
  x = _logits(8, n=1, scale=1.0)[0]
  counts = np.bincount(np.asarray(_draw(jax.random.key(2), x, lambda l, s: l, 20000)),
                       minlength=V)
  assert _chi2_pvalue(counts, _softmax64(x)) > 1e-3


END, W1, W2, ANS = 9, 20, 21, 30  # delimiter, the two ids of "Wait", an answer prefix id


def _run_budget(cfg, sampled_TxN):
  """Drives budget_force with a script of sampled tokens; returns (tokens, forced, state)."""
  sampled_TxN = np.asarray(sampled_TxN, np.int32)
  step = jax.jit(functools.partial(procs.budget_force, cfg=cfg))
  st = procs.init_state(sampled_TxN.shape[1], sampled_TxN.shape[0], pad_id=0)
  toks, forced = [], []
  for t, s in enumerate(sampled_TxN):
    tok, f, st = step(jnp.asarray(s), st._replace(step=jnp.int32(t)))
    toks.append(np.asarray(tok))
    forced.append(np.asarray(f))
  return np.stack(toks, 1), np.stack(forced, 1).astype(int), st


def test_budget_force_min_inserts_wait_up_to_max_waits():
  cfg = SamplerConfig(max_new_tokens=8, eos_id=-1, think_end_id=END, min_think_tokens=5,
                      wait_ids=(W1, W2), max_waits=2)
  # Row 0 tries to end at once, every time; row 1 ends after 6 thinking tokens (>= min).
  script = [[END, 1], [END, 1], [END, 1], [END, 1], [END, 1], [1, 1], [1, END], [1, 1]]
  toks, forced, st = _run_budget(cfg, script)
  np.testing.assert_array_equal(toks[0], [W1, W2, W1, W2, END, 1, 1, 1])
  np.testing.assert_array_equal(forced[0], [1, 1, 1, 1, 0, 0, 0, 0])
  np.testing.assert_array_equal(toks[1], [1, 1, 1, 1, 1, 1, END, 1])
  np.testing.assert_array_equal(forced[1], 0)
  np.testing.assert_array_equal(st.num_waits_N, [2, 0])
  np.testing.assert_array_equal(st.think_tokens_N, [4, 6])
  np.testing.assert_array_equal(st.in_think_N, [False, False])


def test_budget_force_max_cuts_thinking_and_appends_answer_prefix():
  cfg = SamplerConfig(max_new_tokens=8, eos_id=-1, think_end_id=END, max_think_tokens=3,
                      answer_prefix_ids=(ANS,), min_think_tokens=2, wait_ids=(W1, W2),
                      max_waits=5)
  # Row 0 never ends thinking; row 1 tries to end at step 1, gets a Wait that the cut
  # interrupts: thinking holds exactly 3 tokens in both rows.
  script = [[1, 1], [1, END], [1, 1], [1, 1], [1, 1], [1, 1]]
  toks, forced, st = _run_budget(cfg, script)
  np.testing.assert_array_equal(toks[0], [1, 1, 1, END, ANS, 1])
  np.testing.assert_array_equal(forced[0], [0, 0, 0, 1, 1, 0])
  np.testing.assert_array_equal(toks[1], [1, W1, W2, END, ANS, 1])
  np.testing.assert_array_equal(forced[1], [0, 1, 1, 1, 1, 0])
  np.testing.assert_array_equal(st.think_tokens_N, [3, 3])
  np.testing.assert_array_equal(st.num_waits_N, [0, 1])


def test_vocab_limit_masks_padded_ids():
  from r1jax.sampling import processors as procs_lib
  logits = jnp.zeros((2, 10))
  out = procs_lib.vocab_limit(logits, None, limit=7)
  assert bool(jnp.all(jnp.isinf(out[:, 7:]))) and bool(jnp.all(out[:, :7] == 0))
