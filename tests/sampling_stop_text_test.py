"""Stop strings cut on decoded text: '</answer>' after '}', a space and a full stop (BPE)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bpe_tokenizer
from r1jax.eval.evaluate import completions_text
from r1jax.sampling import stop_text
from r1jax.sampling.sampler import STOP_EOS, STOP_LENGTH, STOP_SEQUENCE, SampleOutput
from r1jax.file_tokenizers import load_tokenizer

STOPS = ("</answer>",)
# (completion, the text the grader must see); the first three spell '</answer>' differently.
CASES = [("<think>3+4=7</think><answer>\\boxed{7}</answer> then more text.",
          "<think>3+4=7</think><answer>\\boxed{7}</answer>"),
         ("<think>so it is 7.</think><answer>7 </answer>7 7 7",
          "<think>so it is 7.</think><answer>7 </answer>"),
         ("The answer is 7.</answer> then more text.", "The answer is 7.</answer>"),
         ("no stop string here at all", "no stop string here at all")]


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
  return load_tokenizer(bpe_tokenizer.make_folder(tmp_path_factory.mktemp("bpe")))


def _output(tok, texts, T=40):
  rows = [tok.encode(t) for t in texts]
  N = len(rows)
  tokens = np.full((N, T), tok.pad_id, np.int32)
  lengths = np.zeros(N, np.int32)
  for i, r in enumerate(rows):
    r = (r + [tok.eos_id])[:T]
    tokens[i, :len(r)], lengths[i] = r, len(r)
  mask = (np.arange(T)[None] < lengths[:, None]).astype(np.int32)
  rng = np.random.default_rng(0)
  lp = np.where(mask, -rng.random((N, T)), 0).astype(np.float32)
  return SampleOutput(tokens, mask, lp, lp * 2, lengths,
                      np.where(lengths == T, STOP_LENGTH, STOP_EOS).astype(np.int32),
                      np.zeros((N, T), np.int32), np.zeros(N, np.int32), np.full(N, 5, np.int32))


def test_standalone_tokenisation_misses_the_stop_in_context(tok):
  seq = tok.encode("</answer>")
  assert len(seq) > 1  # Multi-token here, as with Qwen2.5.
  for text, _ in CASES[:3]:
    ids = tok.encode(text)
    assert not any(ids[i:i + len(seq)] == seq for i in range(len(ids)))


@pytest.mark.parametrize("on_device", [False, True])
def test_every_row_stops_at_the_string_and_nothing_after_is_kept(tok, on_device):
  out = _output(tok, [c for c, _ in CASES])
  src = jax.device_put(out) if on_device else out
  cut = stop_text.cut_output(src, tok, STOPS)
  assert isinstance(cut.lengths_N, jax.Array) == on_device
  cut = jax.device_get(cut)
  texts = completions_text(tok, cut.tokens_NxT, cut.lengths_N, STOPS)
  assert texts == [want for _, want in CASES]
  for i, (text, _) in enumerate(CASES):
    n = int(cut.lengths_N[i])
    ids = tok.encode(text)
    if "</answer>" in text:
      # The kept tokens are a prefix of the original ones, ending at the token completing it.
      assert "</answer>" in tok.decode(ids[:n]) and "</answer>" not in tok.decode(ids[:n - 1])
      assert cut.stop_reason_N[i] == STOP_SEQUENCE
    else:
      assert n == out.lengths_N[i] and cut.stop_reason_N[i] == STOP_EOS
    np.testing.assert_array_equal(cut.tokens_NxT[i, :n], out.tokens_NxT[i, :n])
    # Nothing after the cut reaches the loss: mask, log-probs and tokens are cleared.
    assert cut.mask_NxT[i, :n].all() and not cut.mask_NxT[i, n:].any()
    assert not cut.raw_logprobs_NxT[i, n:].any() and not cut.logprobs_NxT[i, n:].any()
    assert (cut.tokens_NxT[i, n:] == tok.pad_id).all()
    np.testing.assert_array_equal(cut.raw_logprobs_NxT[i, :n], out.raw_logprobs_NxT[i, :n])


def test_no_stop_strings_is_the_identity(tok):
  out = _output(tok, ["a </answer> b"])
  assert stop_text.cut_output(out, tok, ()) is out


def test_stop_length_earliest_of_several_strings(tok):
  ids = tok.encode("<think>x</think> y.</answer>")
  k = stop_text.stop_length(tok, ids, ("</answer>", "</think>"))
  assert tok.decode(ids[:k]).endswith("</think>")
  assert stop_text.trim_text("a</think>b</answer>c", ("</answer>", "</think>")) == "a</think>"


def test_config_stop_sequences_cover_the_common_spellings(tok):
  from r1jax.train import defaults, setup  # pylint: disable=g-import-not-at-top
  c = defaults.base_config()
  stop = setup.stop_tokens(c, tok)
  assert stop.strings == ("</answer>",) and not stop.ids
  # The device-side matcher stops rows spelling it after '}', a space or a full stop.
  for text, _ in CASES[:3]:
    ids = tok.encode(text)
    assert any(ids[i:i + len(s)] == list(s) for s in stop.sequences for i in range(len(ids)))
