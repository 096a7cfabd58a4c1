"""Tests of r1jax.sampling.sampler: exactness against full forward passes, statistics, stops,
budget forcing and TIP on a real tiny model, batch invariance, sharding and recompilation."""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax import sharding
from r1jax.models import presets
from r1jax.models.transformer import Transformer
from r1jax.sampling import processors as procs
from r1jax.sampling import sampler as smp
from r1jax.tokenizers import char_tokenizer_for_math
from r1jax.models import params as params_lib

ATOL = 1e-5  # float32 log-probs: cached decode vs a full forward pass.
TOK = char_tokenizer_for_math()
THINK_END = TOK.token_to_id("</think>")
ANSWER = TOK.token_to_id("<answer>")
WAIT = tuple(TOK.encode("Wait"))
X = TOK.token_to_id("x")
Y = TOK.token_to_id("y")


@pytest.fixture(scope="module")
def model():
  mc = presets.get("tiny")
  return mc, params_lib.init_params(mc, jax.random.key(0))


@pytest.fixture(scope="module")
def char_model():
  mc = presets.get("tiny", vocab_size=TOK.vocab_size)
  return mc, params_lib.init_params(mc, jax.random.key(1))


def _biased(params, biases):
  """A real model whose preferences are set: a constant residual feature (embedding dim 0)
  feeds `biases` (token -> weight) into the LM head, on top of the random weights."""
  p = jax.tree.map(np.array, params)
  p["embed"]["embedding"][:, 0] += 8.0
  for tok, b in biases.items():
    p["lm_head"]["kernel"][0, tok] += b
  return jax.tree.map(jnp.asarray, p)


def _prompts(lengths, vocab, seed=0, right=False):
  """Left- (or right-) padded prompts of the given real lengths, ids in [3, vocab)."""
  rng = np.random.default_rng(seed)
  P = max(lengths)
  toks = np.zeros((len(lengths), P), np.int32)
  for r, n in enumerate(lengths):
    ids = rng.integers(3, vocab, size=n)
    if right:
      toks[r, :n] = ids
    else:
      toks[r, P - n:] = ids
  mask = np.zeros_like(toks, bool)
  for r, n in enumerate(lengths):
    if right:
      mask[r, :n] = True
    else:
      mask[r, P - n:] = True
  return toks, mask


def _keys(ids):
  return jax.vmap(lambda i: jax.random.fold_in(jax.random.key(42), i))(jnp.asarray(ids))


@functools.partial(jax.jit, static_argnums=0)
def _forward(mc, params, tokens_BxL):
  return Transformer(mc).apply({"params": params}, tokens_BxL)


def _full_logits(mc, params, prompt, completion, width=32):
  """Logits (float64) predicting each completion token, by one uncached forward pass."""
  seq = np.concatenate([prompt, completion]).astype(np.int32)
  padded = np.zeros((1, width), np.int32)
  padded[0, :len(seq)] = seq  # Right padding cannot affect earlier (causal) positions.
  logits = np.asarray(_forward(mc, params, jnp.asarray(padded)))[0].astype(np.float64)
  return logits[len(prompt) - 1:len(seq) - 1]


def _next_logits(mc, params, seq, width=32):
  """Logits after `seq`, by one uncached forward pass."""
  padded = np.zeros((1, width), np.int32)
  padded[0, :len(seq)] = seq
  return np.asarray(_forward(mc, params, jnp.asarray(padded)))[0, len(seq) - 1]


def _log_softmax(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _rows(out, toks, mask, n):
  """(prompt ids, completion ids) per output row."""
  for r in range(toks.shape[0] * n):
    b = r // n
    yield r, toks[b][mask[b]], np.asarray(out.tokens_NxT[r, :int(out.lengths_N[r])])


def test_greedy_equals_repeated_full_forward_argmax(model):
  mc, params = model
  toks, mask = _prompts([2, 7, 5], mc.vocab_size)
  cfg = smp.SamplerConfig(max_new_tokens=10, eos_id=-1, temperature=0.0)
  out = smp.sample(params, mc, toks, mask, _keys([0, 1, 2]), cfg)
  for b in range(3):
    seq = list(toks[b][mask[b]])
    for _ in range(10):
      seq.append(int(np.argmax(_next_logits(mc, params, seq))))
    np.testing.assert_array_equal(out.tokens_NxT[b], seq[-10:])
  np.testing.assert_array_equal(out.lengths_N, [10, 10, 10])
  np.testing.assert_array_equal(out.stop_reason_N, [smp.STOP_LENGTH] * 3)
  np.testing.assert_array_equal(out.prompt_lengths_N, [2, 7, 5])
  # Right padding takes the same compiled path and gives the same tokens.
  rtoks, rmask = _prompts([2, 7, 5], mc.vocab_size, right=True)
  right = smp.sample(params, mc, rtoks, rmask, _keys([0, 1, 2]), cfg)
  np.testing.assert_array_equal(right.tokens_NxT, out.tokens_NxT)


def test_logprobs_equal_full_forward_recompute(model):
  mc, params = model
  toks, mask = _prompts([3, 6, 1], mc.vocab_size, seed=1)
  cfg = smp.SamplerConfig(max_new_tokens=12, eos_id=5, temperature=0.7, top_k=40, top_p=0.9,
                          n=2)
  out = smp.sample(params, mc, toks, mask, _keys([3, 4, 5]), cfg)
  chain = procs.build_processors(cfg)
  st = procs.init_state(1, 1, 0)
  for r, prompt, comp in _rows(out, toks, mask, 2):
    L = len(comp)
    assert L >= 1
    np.testing.assert_array_equal(out.mask_NxT[r], np.arange(12) < L)
    logits = _full_logits(mc, params, prompt, comp)
    raw = _log_softmax(logits)[np.arange(L), comp]
    np.testing.assert_allclose(out.raw_logprobs_NxT[r, :L], raw, rtol=0, atol=ATOL)
    processed = np.asarray(procs.apply_processors(jnp.asarray(logits, jnp.float32), st, chain))
    lp = _log_softmax(processed.astype(np.float64))[np.arange(L), comp]
    np.testing.assert_allclose(out.logprobs_NxT[r, :L], lp, rtol=0, atol=ATOL)
    np.testing.assert_array_equal(out.logprobs_NxT[r, L:], 0.0)
    np.testing.assert_array_equal(out.tokens_NxT[r, L:], cfg.pad_id)
    reason = smp.stop_reason_name(out.stop_reason_N[r])
    assert reason == ("eos" if comp[-1] == 5 else "length")
    assert (L == 12) or reason == "eos"


@pytest.mark.parametrize("kind", ["top_k", "top_p"])
def test_truncation_never_emits_outside_the_kept_set(model, kind):
  mc, params = model
  toks, mask = _prompts([4, 2], mc.vocab_size, seed=2)
  extra = {"top_k": 3} if kind == "top_k" else {"top_p": 0.3}
  cfg = smp.SamplerConfig(max_new_tokens=8, eos_id=-1, n=16, **extra)
  out = smp.sample(params, mc, toks, mask, _keys([0, 1]), cfg)
  for _, prompt, comp in _rows(out, toks, mask, 16):
    probs = np.exp(_log_softmax(_full_logits(mc, params, prompt, comp)))
    for t, tok in enumerate(comp):
      order = np.argsort(-probs[t])
      if kind == "top_k":
        kept = order[:3]
      else:
        kept = order[(np.cumsum(probs[t][order]) - probs[t][order]) < 0.3]
      assert tok in kept


def test_first_token_frequencies_match_softmax(model):
  mc, params = model
  toks, mask = _prompts([5], mc.vocab_size, seed=3)
  n = 6000
  cfg = smp.SamplerConfig(max_new_tokens=1, eos_id=-1, n=n)
  out = smp.sample(params, mc, toks, mask, _keys([7]), cfg)
  counts = np.bincount(np.asarray(out.tokens_NxT[:, 0]), minlength=mc.vocab_size)
  probs = np.exp(_log_softmax(_full_logits(mc, params, toks[0][mask[0]], [0])[:1]))[0]
  expected = probs * n
  keep = expected >= 5  # Pool sparse cells so the chi-square approximation holds.
  obs = np.append(counts[keep], counts[~keep].sum())
  exp = np.append(expected[keep], expected[~keep].sum())
  from scipy import stats  # pylint: disable=g-import-not-at-top  (~1 CPU-s; one test uses it)
  assert stats.chisquare(obs, exp).pvalue > 1e-3


SAMPLED = smp.SamplerConfig(max_new_tokens=6, eos_id=-1, n=2, temperature=0.9)


def test_same_seed_same_outputs_regardless_of_batching(model):
  mc, params = model
  lengths = [3, 6, 1, 4]
  toks, mask = _prompts(lengths, mc.vocab_size, seed=4)
  ids = np.arange(4) + 100
  full = smp.sample(params, mc, toks, mask, _keys(ids), SAMPLED)
  for group in ([2, 0], [3, 1]):  # Narrower padding and a reordering.
    sub_len = [lengths[i] for i in group]
    P = max(sub_len)
    sub_t, sub_m = toks[group][:, -P:], mask[group][:, -P:]
    part = smp.sample(params, mc, sub_t, sub_m, _keys(ids[group]), SAMPLED)
    rows = np.concatenate([[2 * i, 2 * i + 1] for i in group])
    np.testing.assert_array_equal(part.tokens_NxT, full.tokens_NxT[rows])
    np.testing.assert_allclose(part.logprobs_NxT, full.logprobs_NxT[rows], rtol=0, atol=ATOL)
    np.testing.assert_allclose(part.raw_logprobs_NxT, full.raw_logprobs_NxT[rows], rtol=0,
                               atol=ATOL)
  # Samples of one prompt differ from each other (distinct keys per sample).
  assert not np.array_equal(full.tokens_NxT[0], full.tokens_NxT[1])


# xla: the prefill goes through jax.nn.dot_product_attention with rows rolled (sharded).
@pytest.mark.parametrize("attention_impl", ["auto", "xla"])
def test_sharded_on_8_devices_equals_unsharded(model, attention_impl):
  mc, params = model
  mesh = sharding.make_mesh({"data": 2, "fsdp": 2, "tensor": 2})
  toks, mask = _prompts([3, 6, 1, 4], mc.vocab_size, seed=4)
  keys = _keys(np.arange(4) + 100)
  sharded_params = jax.device_put(params, params_lib.param_shardings(mc, mesh))
  fn = smp.make_sample_fn(dataclasses.replace(mc, attention_impl=attention_impl), SAMPLED,
                          mesh=mesh)
  out = fn(sharded_params, toks, mask, keys)
  ref = smp.sample(params, mc, toks, mask, keys, SAMPLED)
  assert out.tokens_NxT.sharding.spec[0] == ("data", "fsdp")
  assert len(out.tokens_NxT.sharding.device_set) == 8
  for a, b in zip(out, ref):
    if jnp.issubdtype(a.dtype, jnp.floating):
      np.testing.assert_allclose(a, b, rtol=0, atol=ATOL)
    else:
      np.testing.assert_array_equal(a, b)
  with pytest.raises(ValueError, match="cannot be split"):
    fn(sharded_params, toks[:2], mask[:2], keys[:2])


def _ban_even_ids(logits_NxV, state):
  del state
  return jnp.where(jnp.arange(logits_NxV.shape[-1]) % 2 == 0, -jnp.inf, logits_NxV)


def test_custom_processors_compose(model):
  mc, params = model
  toks, mask = _prompts([3, 6], mc.vocab_size, seed=5)
  cfg = smp.SamplerConfig(max_new_tokens=6, eos_id=-1, n=4, top_k=20)
  chain = procs.build_processors(cfg) + (_ban_even_ids,)
  out = smp.sample(params, mc, toks, mask, _keys([0, 1]), cfg, processors=chain)
  assert np.all(np.asarray(out.tokens_NxT) % 2 == 1)
  # Renormalised over fewer tokens, every processed log-prob exceeds the raw one.
  assert np.all(np.asarray(out.logprobs_NxT) > np.asarray(out.raw_logprobs_NxT))


def test_sampler_compiles_once_across_calls(model):
  mc, params = model
  fn = smp.make_sample_fn(mc, SAMPLED)
  toks, mask = _prompts([3, 6], mc.vocab_size, seed=5)
  first = fn(params, toks, mask, _keys([0, 1]))
  toks2, mask2 = _prompts([6, 2], mc.vocab_size, seed=6)  # Same shape, other values.
  second = fn(params, toks2, mask2, _keys([2, 3]))
  jax.block_until_ready((first, second))
  assert fn.trace_count == 1
  assert not np.array_equal(first.tokens_NxT, second.tokens_NxT)


def test_stops_cut_at_first_eos_stop_token_or_stop_sequence(model):
  mc, params = model
  toks, mask = _prompts([2, 7, 5], mc.vocab_size)  # As in the greedy test: one compile less.
  greedy = smp.SamplerConfig(max_new_tokens=10, eos_id=-1, temperature=0.0)
  free = np.asarray(smp.sample(params, mc, toks, mask, _keys([0, 1, 2]), greedy).tokens_NxT)
  eos, stop_tok, seq = int(free[0, 4]), int(free[1, 6]), tuple(int(t) for t in free[2, 2:4])
  cfg = smp.SamplerConfig(max_new_tokens=10, eos_id=eos, temperature=0.0,
                          stop_token_ids=(stop_tok,), stop_sequences=(seq,))
  out = smp.sample(params, mc, toks, mask, _keys([0, 1, 2]), cfg)
  for r in range(3):
    # Reference: the first step at which any stop holds (greedy prefixes are unchanged).
    length, reason = 10, smp.STOP_LENGTH
    for t, tok in enumerate(free[r]):
      hits = [(tok == eos, smp.STOP_EOS), (tok == stop_tok, smp.STOP_TOKEN),
              (t >= 1 and tuple(free[r, t - 1:t + 1]) == seq, smp.STOP_SEQUENCE)]
      hit = [code for cond, code in hits if cond]
      if hit:
        length, reason = t + 1, hit[0]
        break
    assert int(out.lengths_N[r]) == length
    assert int(out.stop_reason_N[r]) == reason
    np.testing.assert_array_equal(out.tokens_NxT[r, :length], free[r, :length])
    np.testing.assert_array_equal(out.tokens_NxT[r, length:], 0)
    np.testing.assert_array_equal(out.mask_NxT[r], np.arange(10) < length)
  assert set(np.asarray(out.stop_reason_N).tolist()) <= {smp.STOP_EOS, smp.STOP_TOKEN,
                                                        smp.STOP_SEQUENCE}


def _budget_cfg(**kw):
  base = dict(eos_id=TOK.eos_id, temperature=0.0, think_end_id=THINK_END, wait_ids=WAIT)
  return smp.SamplerConfig(**{**base, **kw})


def test_min_budget_inserts_wait_exactly_as_configured(char_model):
  mc, params = char_model
  params = _biased(params, {THINK_END: 3.0})  # The model always wants to stop thinking.
  toks, mask = _prompts([4, 9], TOK.vocab_size, seed=8)
  wait2 = list(WAIT) * 2
  # min 10 with 2 waits: the waits run out first; min 6 with 5 waits: the minimum is met.
  for min_think, max_waits in ((10, 2), (6, 5)):
    cfg = _budget_cfg(max_new_tokens=12, min_think_tokens=min_think, max_waits=max_waits)
    out = smp.sample(params, mc, toks, mask, _keys([0, 1]), cfg)
    for r in range(2):
      np.testing.assert_array_equal(out.tokens_NxT[r], wait2 + [THINK_END] * 4)
      np.testing.assert_array_equal(out.forced_mask_NxT[r], [1] * 8 + [0] * 4)
      np.testing.assert_array_equal(out.logprobs_NxT[r], 0.0)
    np.testing.assert_array_equal(out.num_waits_N, [2, 2])
  # Raw log-probs of forced tokens are the model's own: check against a full forward pass.
  comp = np.asarray(out.tokens_NxT[1])
  logits = _full_logits(mc, params, toks[1][mask[1]], comp)
  np.testing.assert_allclose(out.raw_logprobs_NxT[1], _log_softmax(logits)[np.arange(12), comp],
                             rtol=0, atol=ATOL)


def test_max_budget_cuts_thinking_at_the_limit(char_model):
  mc, params = char_model
  toks, mask = _prompts([4, 9], TOK.vocab_size, seed=9)
  # A model that never ends thinking: cut at 5, answer prefix, then 3 answer tokens.
  never = _biased(params, {X: 3.0})
  cfg = _budget_cfg(max_new_tokens=20, max_think_tokens=5, answer_prefix_ids=(ANSWER,),
                    max_answer_tokens=3)
  out = smp.sample(never, mc, toks, mask, _keys([0, 1]), cfg)
  for r in range(2):
    np.testing.assert_array_equal(out.tokens_NxT[r, :9], [X] * 5 + [THINK_END, ANSWER, X, X])
    np.testing.assert_array_equal(out.forced_mask_NxT[r, :9], [0] * 5 + [1, 1, 0, 0])
    assert int(out.lengths_N[r]) == 9
    assert smp.stop_reason_name(out.stop_reason_N[r]) == "budget"
  # A model that always ends thinking, forced to go on: the cut interrupts the third Wait.
  eager = _biased(params, {THINK_END: 3.0})
  cfg = _budget_cfg(max_new_tokens=14, min_think_tokens=10, max_think_tokens=10, max_waits=9,
                    answer_prefix_ids=(ANSWER,))
  out = smp.sample(eager, mc, toks, mask, _keys([0, 1]), cfg)
  expect = list(WAIT) * 2 + list(WAIT[:2]) + [THINK_END, ANSWER, THINK_END, THINK_END]
  for r in range(2):
    np.testing.assert_array_equal(out.tokens_NxT[r], expect)
    np.testing.assert_array_equal(out.forced_mask_NxT[r], [1] * 12 + [0, 0])
  np.testing.assert_array_equal(out.num_waits_N, [3, 3])


def test_budget_forcing_per_row_while_sampling(char_model):
  mc, params = char_model
  params = _biased(params, {THINK_END: 1.1})  # Ending thinking is likely, not certain.
  toks, mask = _prompts([4, 9], TOK.vocab_size, seed=10)
  cfg = _budget_cfg(max_new_tokens=40, eos_id=-1, temperature=1.0, n=8, min_think_tokens=12,
                    max_think_tokens=20, max_waits=2, answer_prefix_ids=(ANSWER,))
  out = smp.sample(params, mc, toks, mask, _keys([0, 1]), cfg)
  cases = set()
  for r in range(16):
    tok = np.asarray(out.tokens_NxT[r])
    forced = np.asarray(out.forced_mask_NxT[r]).astype(bool)
    end = int(np.flatnonzero(tok == THINK_END)[0])  # Thinking always ends (max budget).
    assert end <= 20
    # Forced tokens: whole "Wait"s starting below the minimum, then a budget cut if any.
    starts, run = [], 0  # A run of forced tokens may hold several back-to-back Waits.
    for t in range(end):
      run = run + 1 if forced[t] else 0
      if forced[t] and run % 4 == 1:
        starts.append(t)
    assert len(starts) == int(out.num_waits_N[r]) <= 2
    for s in starts:
      assert s < 12
      np.testing.assert_array_equal(tok[s:s + 4][:min(4, end - s)], WAIT[:min(4, end - s)])
    if forced[end]:
      assert end == 20 and tok[end + 1] == ANSWER and forced[end + 1]
      cases.add("cut")
    elif end < 12:
      assert int(out.num_waits_N[r]) == 2  # Ended early only once the waits ran out.
      cases.add("early")
    else:
      cases.add("natural")
    assert not forced[end + 2:].any()
    np.testing.assert_array_equal(out.logprobs_NxT[r][forced], 0.0)
  assert cases == {"cut", "early", "natural"}  # Rows really took different paths.


def test_tip_penalises_switch_tokens_only_inside_the_window(char_model):
  mc, params = char_model
  params = _biased(params, {X: 3.0, Y: 2.0})  # x preferred, y second.
  toks, mask = _prompts([4, 9], TOK.vocab_size, seed=11)
  greedy = smp.SamplerConfig(max_new_tokens=16, eos_id=-1, temperature=0.0,
                             tip_token_ids=(X,), tip_alpha=100.0, tip_beta=5)
  out = smp.sample(params, mc, toks, mask, _keys([0, 1]), greedy)
  # Thought starts at 0, 5, 10, 15 (each emitted x starts one); x is banned for 5 steps.
  expect = [Y] * 5 + [X] + [Y] * 4 + [X] + [Y] * 4 + [X]
  np.testing.assert_array_equal(out.tokens_NxT, [expect] * 2)
  # Sampling: the processed log-probs equal log softmax(raw - alpha on x inside the window).
  params = _biased(char_model[1], {X: 0.4})  # x likely enough to start a few new thoughts.
  cfg = smp.SamplerConfig(max_new_tokens=16, eos_id=-1, tip_token_ids=(X,), tip_alpha=2.0,
                          tip_beta=4, n=4)
  out = smp.sample(params, mc, toks, mask, _keys([0, 1]), cfg)
  in_window_total, restarts = 0, 0
  for r, prompt, comp in _rows(out, toks, mask, 4):
    logits = _full_logits(mc, params, prompt, comp)
    start = 0
    for t, tok in enumerate(comp):
      z = logits[t].copy()
      if t < start + 4:
        z[X] -= 2.0
        in_window_total += 1
      assert abs(float(out.logprobs_NxT[r, t]) - _log_softmax(z)[tok]) < ATOL
      assert abs(float(out.raw_logprobs_NxT[r, t]) - _log_softmax(logits[t])[tok]) < ATOL
      if tok == X:
        start = t
        restarts += t > 0
  assert restarts > 0 and 8 * 4 < in_window_total < 8 * 16


def test_config_errors_name_the_field(model):
  with pytest.raises(ValueError, match="SamplerConfig.top_p"):
    smp.SamplerConfig(max_new_tokens=4, eos_id=-1, top_p=0.0)
  with pytest.raises(ValueError, match="SamplerConfig.wait_ids"):
    smp.SamplerConfig(max_new_tokens=4, eos_id=-1, think_end_id=4, min_think_tokens=3)
  with pytest.raises(ValueError, match="SamplerConfig.think_end_id"):
    smp.SamplerConfig(max_new_tokens=4, eos_id=-1, max_think_tokens=3)
  with pytest.raises(ValueError, match="SamplerConfig.stop_sequences"):
    smp.SamplerConfig(max_new_tokens=4, eos_id=-1, stop_sequences=((),))
  cfg = smp.SamplerConfig(max_new_tokens=4, eos_id=-1, stop_token_ids=[7, 8])
  assert cfg.stop_token_ids == (7, 8) and hash(cfg) == hash(
      smp.SamplerConfig(max_new_tokens=4, eos_id=-1, stop_token_ids=(7, 8)))
  mc, params = model
  toks, mask = _prompts([2, 3], mc.vocab_size)
  with pytest.raises(ValueError, match="SamplerConfig.eos_id=500"):
    smp.sample(params, mc, toks, mask, _keys([0, 1]),
               smp.SamplerConfig(max_new_tokens=4, eos_id=500))
  mask[1] = False
  with pytest.raises(ValueError, match=r"prompt rows \[1\]"):
    smp.sample(params, mc, toks, mask, _keys([0, 1]), smp.SamplerConfig(max_new_tokens=4,
                                                                       eos_id=-1))
  assert [smp.stop_reason_name(c) for c in (1, 2, 3, 4, 5)] == [
      "eos", "stop_token", "stop_sequence", "length", "budget"]


def test_samplers_of_one_model_and_config_share_their_compiled_function(model):
  """A second Sampler of the same model, config and mesh (a run's next evaluation, the next run
  in a sweep) reuses the first one's trace: its first call traces nothing and returns the same
  samples. Another config is another function."""
  mc, params = model
  cfg = dataclasses.replace(SAMPLED, max_new_tokens=5)  # A config no other test uses.
  toks, mask = _prompts([3, 6], mc.vocab_size, seed=7)
  first, again = smp.make_sample_fn(mc, cfg), smp.make_sample_fn(mc, cfg)
  a = first(params, toks, mask, _keys([0, 1]))
  b = again(params, toks, mask, _keys([0, 1]))
  assert (first.trace_count, again.trace_count) == (1, 0)
  np.testing.assert_array_equal(a.tokens_NxT, b.tokens_NxT)
  other = smp.make_sample_fn(mc, dataclasses.replace(cfg, temperature=0.5))
  other(params, toks, mask, _keys([0, 1]))
  assert other.trace_count == 1
  # Custom processors that cannot be hashed get a function of their own.
  own = smp.Sampler(mc, cfg, processors=procs.build_processors(cfg) + (_Unhashable(),))
  own(params, toks, mask, _keys([0, 1]))
  assert own.trace_count == 1


class _Unhashable:
  """A processor that leaves the logits alone and cannot be a cache key."""
  __hash__ = None

  def __call__(self, logits, state):
    del state
    return logits
