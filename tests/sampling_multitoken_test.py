"""Budget forcing and TIP with multi-token delimiters on a byte-level BPE tokenizer, where
'</think>' is '</' 'think' '>' (as with Qwen2.5) and 'Wait' is several tokens too."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bpe_tokenizer
from r1jax.models import presets
from r1jax.sampling import processors as procs
from r1jax.sampling import sampler as smp
from r1jax.sampling.spellings import spellings
from r1jax.file_tokenizers import load_tokenizer
from r1jax.models import params as params_lib


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  tok = load_tokenizer(bpe_tokenizer.make_folder(tmp_path_factory.mktemp("bpe")))
  mc = presets.get("tiny", vocab_size=tok.vocab_size)
  params = params_lib.init_params(mc, jax.random.key(3))
  return tok, mc, params


def _prompts(tok, n=2):
  ids = tok.encode("3+4\n<think>")
  toks = np.asarray([ids] * n, np.int32)
  return toks, np.ones_like(toks, bool), jax.vmap(jax.random.key)(jnp.arange(n))


def _eager(word, then=None, boost=50.0):
  """A processor making the model want to write `word` (ids) over and over, or `then` once
  `word` is complete: the next id of the word given the longest matching tail."""
  word = tuple(word)

  def proc(logits_NxV, state):
    toks_NxT, t = state.tokens_NxT, state.step
    want_N = jnp.full(logits_NxV.shape[:1], word[0], jnp.int32)
    for j in range(1, len(word) + 1):  # Longer matching tails win.
      idx = t - j + jnp.arange(j)
      tail = jnp.take(toks_NxT, jnp.maximum(idx, 0), axis=1)
      match_N = jnp.all(tail == jnp.asarray(word[:j], jnp.int32), axis=1) & (t >= j)
      nxt = word[j] if j < len(word) else (word[0] if then is None else then)
      want_N = jnp.where(match_N, nxt, want_N)
    return logits_NxV + boost * jax.nn.one_hot(want_N, logits_NxV.shape[-1])
  return proc


def _think_tokens(tokens, n, seqs):
  """Tokens before the first complete spelling of the delimiter (all n if none)."""
  ids = [int(x) for x in tokens[:n]]
  starts = [i for s in seqs for i in range(len(ids)) if tuple(ids[i:i + len(s)]) == s]
  return min(starts) if starts else n


def test_think_end_is_several_tokens(setup):
  tok = setup[0]
  seqs = spellings(tok, "</think>")
  assert len(seqs[0]) == 3 and len(seqs) > 1 and len(tok.encode("Wait")) > 1


@pytest.mark.parametrize("early", ["delimiter", "eos"])
def test_min_budget_replaces_an_early_end_by_wait(setup, early):
  tok, mc, params = setup
  seqs = spellings(tok, "</think>")
  wait = tuple(tok.encode("Wait"))
  cfg = smp.SamplerConfig(max_new_tokens=24, eos_id=tok.eos_id, temperature=0.0,
                          think_end_seqs=seqs, min_think_tokens=6, wait_ids=wait, max_waits=5)
  eager = (_eager(seqs[0], then=tok.eos_id) if early == "delimiter"
           else _eager((tok.eos_id,)))
  out = smp.sample(params, mc, *_prompts(tok), cfg,
                   processors=(eager,) + procs.build_processors(cfg))
  for r in range(2):
    n = int(out.lengths_N[r])
    text = tok.decode([int(t) for t in out.tokens_NxT[r, :n - 1]])  # Without the final eos.
    # Two waits (8 thinking tokens >= 6), then the end the model wanted; the end of turn
    # emitted under the budget was not a stop.
    assert text == ("WaitWait</think>" if early == "delimiter" else "WaitWait")
    assert int(out.tokens_NxT[r, n - 1]) == tok.eos_id and int(out.num_waits_N[r]) == 2
    assert _think_tokens(out.tokens_NxT[r], n, seqs) >= 6
    assert int(out.stop_reason_N[r]) == smp.STOP_EOS


@pytest.mark.parametrize("budget", [5])
def test_max_budget_forces_the_whole_delimiter_and_is_respected(setup, budget):
  tok, mc, params = setup
  seqs = spellings(tok, "</think>")
  prefix = tuple(tok.encode("<answer>"))
  cfg = smp.SamplerConfig(max_new_tokens=20, eos_id=-1, think_end_seqs=seqs,
                          max_think_tokens=budget, answer_prefix_ids=prefix, n=4)
  out = jax.device_get(smp.sample(params, mc, *_prompts(tok), cfg))
  for r in range(8):
    k = _think_tokens(out.tokens_NxT[r], 20, seqs)
    assert k <= budget
    ids = tuple(int(t) for t in out.tokens_NxT[r])
    if k == budget:  # Forced: the canonical spelling, then the answer prefix, all forced.
      forced = seqs[0] + prefix
      assert ids[k:k + len(forced)] == forced
      assert out.forced_mask_NxT[r, k:k + len(forced)].all()
      assert not out.forced_mask_NxT[r, :k].any()


def _tip_reference(word, filler, beta, T):
  """Greedy TIP in Python: the model wants `word` unless penalised, then `filler`. A thought
  starts (Psi) at the FIRST token of a completed switch word; only a word's first token is
  penalised, while step < Psi + beta."""
  out, psi = [], 0
  for t in range(T):
    j = next((j for j in range(len(word) - 1, 0, -1) if tuple(out[-j:]) == word[:j]), 0)
    out.append(word[j] if j else (filler if t < psi + beta else word[0]))
    if tuple(out[-len(word):]) == word:
      psi = t - len(word) + 1
  return out


def test_tip_penalises_a_multi_token_switch_word_at_its_first_position(setup):
  tok, mc, params = setup
  word = tuple(tok.encode("Wait"))
  filler = tok.encode("x")[0]
  cfg = smp.SamplerConfig(max_new_tokens=24, eos_id=-1, temperature=0.0, tip_sequences=(word,),
                          tip_alpha=1000.0, tip_beta=5)
  prefer_filler = lambda z, s: z + 25.0 * jax.nn.one_hot(filler, z.shape[-1])
  chain = (_eager(word), prefer_filler) + procs.build_processors(cfg)
  out = smp.sample(params, mc, *_prompts(tok), cfg, processors=chain)
  want = _tip_reference(word, filler, 5, 24)
  # The reference itself tells a word-start Psi from a word-end one.
  assert want != _tip_reference_end(word, filler, 5, 24)
  np.testing.assert_array_equal(np.asarray(out.tokens_NxT), [want] * 2)


def _tip_reference_end(word, filler, beta, T):
  out, psi = [], 0
  for t in range(T):
    j = next((j for j in range(len(word) - 1, 0, -1) if tuple(out[-j:]) == word[:j]), 0)
    out.append(word[j] if j else (filler if t < psi + beta else word[0]))
    if tuple(out[-len(word):]) == word:
      psi = t
  return out
