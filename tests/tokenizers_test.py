"""Tokenizers: round trips on GSM8K / MATH-500, special tokens, offsets, spec loading.

The Hugging Face tokenizer.json (byte-level BPE) and the SentencePiece model are trained here,
once per module, on GSM8K training text, so no tokenizer file is committed.
"""
import json
import random

import pytest
import sentencepiece
import tokenizers
from tokenizers import decoders, models, pre_tokenizers, processors, trainers

from r1jax import templates
from r1jax import file_tokenizers as ftk
from r1jax import tokenizers as tk

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
R1_TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
UNICODE = "π≈3.14, naïve café — 東京 🙂\t end  "


def _read(path, fields):
  with open(path) as f:
    return [json.loads(line)[k] for line in f for k in fields]


@pytest.fixture(scope="module")
def train_lines(shared_data_dir):
  return _read(shared_data_dir / "gsm8k" / "train.jsonl", ("question", "answer"))[:3000]


@pytest.fixture(scope="module")
def eval_texts(shared_data_dir):
  return (_read(shared_data_dir / "gsm8k" / "test.jsonl", ("question", "answer")) +
          _read(shared_data_dir / "math500" / "test.jsonl", ("problem", "solution")))


@pytest.fixture(scope="module")
def hf_dir(train_lines, tmp_path_factory):
  """A Qwen-like folder: byte-level BPE, ChatML specials, R1 tags as ordinary added tokens."""
  tok = tokenizers.Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  # Offset trimming on purpose: HFTokenizer must still give gap-free spans.
  tok.post_processor = processors.ByteLevel(trim_offsets=True)
  trainer = trainers.BpeTrainer(vocab_size=800, special_tokens=SPECIAL, show_progress=False,
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
  tok.train_from_iterator(train_lines, trainer)
  tok.add_tokens(R1_TAGS)
  d = tmp_path_factory.mktemp("hf_tok")
  tok.save(str(d / "tokenizer.json"))
  (d / "tokenizer_config.json").write_text(json.dumps(
      {"eos_token": {"content": "<|im_end|>"}, "pad_token": "<|endoftext|>",
       "bos_token": None}))
  return d


@pytest.fixture(scope="module")
def sp_path(train_lines, tmp_path_factory):
  """A Llama-2-like SentencePiece BPE: byte fallback, identity normalisation."""
  path = tmp_path_factory.mktemp("sp_tok") / "tokenizer.model"
  with open(path, "wb") as f:
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(train_lines), model_writer=f, vocab_size=800, model_type="bpe",
        byte_fallback=True, normalization_rule_name="identity", remove_extra_whitespaces=False,
        user_defined_symbols=SPECIAL[1:] + R1_TAGS, unk_id=0, bos_id=1, eos_id=2, pad_id=3,
        character_coverage=1.0, minloglevel=2)
  return path


@pytest.fixture(scope="module")
def hf(hf_dir):
  return ftk.HFTokenizer.from_file(hf_dir)


@pytest.fixture(scope="module")
def sp(sp_path):
  return ftk.SentencePieceTokenizer.from_file(sp_path)


@pytest.fixture(params=["hf", "sp"])
def any_tok(request):
  return request.getfixturevalue(request.param)


def _assert_offsets_contract(text, ids, offsets):
  assert len(ids) == len(offsets)
  if not text:
    assert not ids
    return
  assert offsets[0][0] == 0 and offsets[-1][1] == len(text), (offsets[:2], offsets[-2:])
  # True of these vocabularies: only SentencePiece's dummy-prefix piece, first, is zero-width.
  assert all(s < e for s, e in offsets[1:]), text
  for (s0, e0), (s1, e1) in zip(offsets, offsets[1:]):
    assert s0 <= e0 and s1 <= e1
    # Either the next token starts where this one ends, or both spell one character.
    assert s1 == e0 or (s1, e1) == (s0, e0) == (s0, s0 + 1), (text, (s0, e0), (s1, e1))


def test_round_trip_and_offsets_on_gsm8k_and_math500(any_tok, eval_texts):
  for text in eval_texts + [UNICODE, ""]:
    ids, offsets = any_tok.encode_with_offsets(text)
    assert any_tok.decode(ids) == text
    assert any_tok.encode(text) == ids
    _assert_offsets_contract(text, ids, offsets)
    assert all(0 <= i < any_tok.vocab_size for i in ids)


def test_hf_token_spans_spell_the_text(hf, eval_texts):
  for text in eval_texts[:300] + [UNICODE]:
    ids, offsets = hf.encode_with_offsets(text)
    for k, (i, span) in enumerate(zip(ids, offsets)):
      shared = (k and offsets[k - 1] == span) or (k + 1 < len(ids) and offsets[k + 1] == span)
      if not shared:
        assert hf.decode([i]) == text[span[0]:span[1]], (text, k, span)


def test_sp_token_spans_spell_the_text(sp, sp_path, eval_texts):
  proc = sentencepiece.SentencePieceProcessor(model_file=str(sp_path))
  for text in eval_texts[:300] + [UNICODE]:
    ids, offsets = sp.encode_with_offsets(text)
    # Token 0 carries SentencePiece's dummy-prefix space, which is not in the text.
    for i, (s, e) in list(zip(ids, offsets))[1:]:
      if not proc.is_byte(i):
        assert proc.id_to_piece(i).replace("\u2581", " ") == text[s:e], (text, i, (s, e))


def test_covering_tokens_cover_every_character_span(any_tok, eval_texts):
  rng = random.Random(0)
  for text in eval_texts[::40] + [UNICODE]:
    ids, offsets = any_tok.encode_with_offsets(text)
    for _ in range(20):
      start = rng.randrange(len(text))
      end = rng.randrange(start + 1, len(text) + 1)
      first, last = tk.covering_tokens(offsets, start, end)
      assert 0 <= first < last <= len(ids)
      assert offsets[first][0] <= start and offsets[last - 1][1] >= end  # Covers.
      assert offsets[first][1] > start and offsets[last - 1][0] < end  # Minimal.
      # SentencePiece drops a leading space when decoding from the start of a slice.
      assert text[start:end].lstrip(" ") in any_tok.decode(ids[first:last])


def test_covering_tokens_rejects_bad_spans():
  offsets = [(0, 2), (2, 5)]
  for start, end in [(3, 3), (4, 2), (-1, 2), (0, 6)]:
    with pytest.raises(ValueError, match="covering_tokens"):
      tk.covering_tokens(offsets, start, end)


def test_hf_special_tokens(hf):
  ids = {t: hf.token_to_id(t) for t in SPECIAL + R1_TAGS}
  assert hf.special_ids == ids
  assert (hf.eos_id, hf.pad_id, hf.bos_id) == (ids["<|im_end|>"], ids["<|endoftext|>"], None)
  assert hf.encode("x", add_bos=True) == hf.encode("x")  # No BOS token in this vocabulary.
  prompt = templates.qwen_chat("What is 2+3?") + "<think>5</think> <answer>5</answer><|im_end|>"
  got, offsets = hf.encode_with_offsets(prompt)
  assert hf.decode(got) == prompt
  for t in SPECIAL[1:] + R1_TAGS:
    k = got.index(ids[t])
    assert prompt[offsets[k][0]:offsets[k][1]] == t
  assert got.count(ids["<|im_start|>"]) == 3 and got[-1] == hf.eos_id
  # skip_special drops the ChatML specials; the R1 tags are ordinary added tokens.
  plain = hf.decode(got, skip_special=True)
  assert "<|im_start|>" not in plain and "<think>5</think>" in plain


def test_sp_special_tokens(sp):
  assert (sp.bos_id, sp.eos_id, sp.pad_id) == (1, 2, 3)
  assert set(sp.special_ids) == {"<unk>", "<s>", "</s>", "<pad>"} | set(SPECIAL[1:] + R1_TAGS)
  assert sp.token_to_id("<think>") == sp.special_ids["<think>"]
  assert sp.token_to_id("no such piece") is None and sp.token_to_id("<unk>") == 0
  assert sp.encode("2+3", add_bos=True) == [1] + sp.encode("2+3")
  text = "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<think>5</think>"
  ids, offsets = sp.encode_with_offsets(text)
  for t in ("<|im_start|>", "<|im_end|>", "<think>", "</think>"):
    k = ids.index(sp.special_ids[t])
    assert text[offsets[k][0]:offsets[k][1]] == t
  assert sp.decode(ids) == text
  assert sp.decode(ids, skip_special=True) == "user\nWhat is 2+3?\n5"


def test_char_tokenizer_meets_the_offsets_contract():
  tok = ftk.load_tokenizer("char:math")
  text = "<think>2+3=5</think> <answer>5</answer>"
  ids, offsets = tok.encode_with_offsets(text)
  _assert_offsets_contract(text, ids, offsets)
  first, last = tk.covering_tokens(offsets, 9, 12)  # "3=5" with the '+' left out.
  assert tok.decode(ids[first:last]) == "3=5"


def test_load_tokenizer_picks_the_class(hf_dir, sp_path, tmp_path):
  assert isinstance(ftk.load_tokenizer(hf_dir), ftk.HFTokenizer)
  assert isinstance(ftk.load_tokenizer(hf_dir / "tokenizer.json"), ftk.HFTokenizer)
  assert isinstance(ftk.load_tokenizer(sp_path), ftk.SentencePieceTokenizer)
  assert isinstance(ftk.load_tokenizer(sp_path.parent), ftk.SentencePieceTokenizer)
  assert isinstance(ftk.load_tokenizer("char:math"), tk.CharTokenizer)
  with pytest.raises(ValueError, match="unknown char vocabulary 'greek'"):
    ftk.load_tokenizer("char:greek")
  with pytest.raises(ValueError, match="neither tokenizer.json nor tokenizer.model"):
    ftk.load_tokenizer(tmp_path)
  with pytest.raises(ValueError, match="cannot load"):
    ftk.load_tokenizer(tmp_path / "missing.model")


def test_bad_files_and_ids_give_clear_errors(hf_dir, tmp_path):
  with pytest.raises(ValueError, match="eos_token '<nope>' is not in the vocabulary"):
    ftk.HFTokenizer.from_file(hf_dir, eos_token="<nope>")
  bare = tmp_path / "tokenizer.json"
  bare.write_text((hf_dir / "tokenizer.json").read_text())
  # Without tokenizer_config.json, eos falls back to a known end-of-text token.
  assert ftk.HFTokenizer.from_file(bare).eos_id == ftk.HFTokenizer.from_file(hf_dir).pad_id
  broken = tmp_path / "broken.json"
  broken.write_text("{not json")
  with pytest.raises(ValueError, match="cannot parse .*broken.json"):
    ftk.HFTokenizer.from_file(broken)
  bad_model = tmp_path / "bad.model"
  bad_model.write_bytes(b"\x00garbage")
  with pytest.raises(ValueError, match="bad.model: not a SentencePiece model"):
    ftk.SentencePieceTokenizer.from_file(bad_model)
  hf = ftk.HFTokenizer.from_file(hf_dir)
  with pytest.raises(ValueError, match=f"id {hf.vocab_size} out of range"):
    hf.decode([0, hf.vocab_size])


# Multi-line traces with GSM8K-style steps, multi-byte characters and calculator annotations.
STEP_TRACES = [
    "<think>She has 48/2 = 24 left.\nThen 24 × 3 = 72 café cups.\n</think><answer>72</answer>",
    "First 12+7=19\n19*3=57 naïve\n<<57-7=50>> so 50 π≈3\n<answer>50</answer>",
    "Wrong: 2+2=5\n 東京 3*3=9 🙂\n10-1=9",
]


def test_decode_with_offsets_matches_prefix_decoding(any_tok, eval_texts):
  """ends[t] == len(decode(ids[:t+1])) wherever that prefix ends on a whole character."""
  for text in STEP_TRACES + eval_texts[:20]:
    ids = any_tok.encode(text)
    full, ends = any_tok.decode_with_offsets(ids)
    assert full == any_tok.decode(ids)
    assert len(ends) == len(ids) and ends == sorted(ends) and ends[-1] == len(full)
    for t in range(len(ids)):
      prefix = any_tok.decode(ids[:t + 1])
      if not prefix.endswith("\ufffd") and full.startswith(prefix):
        assert ends[t] == len(prefix), (text, t)


def test_step_rewards_land_on_the_token_that_ends_each_step(any_tok):
  """The trainer's placement (rl_phases.place_step_rewards) on real tokenizers: each step's
  reward sits on the token that emits the step's last character; decoding token by token
  (the old placement) misplaces them on byte-level BPE and SentencePiece."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from r1jax.rewards import process  # pylint: disable=g-import-not-at-top
  from r1jax.train import rl_phases  # pylint: disable=g-import-not-at-top
  T = 96
  rows = [any_tok.encode(t) for t in STEP_TRACES]
  tokens = np.zeros((len(rows), T), np.int32)
  for i, ids in enumerate(rows):
    tokens[i, :len(ids)] = ids
  lengths = np.array([len(ids) for ids in rows])
  steps = []
  for text in STEP_TRACES:
    _, row_steps = process.self_checked(text, correct=1.0, incorrect=0.0)
    steps.append(row_steps)
  assert sum(len(s) for s in steps) >= 8 and any(r == 0.0 for s in steps for _, r in s)
  rewards, mask = rl_phases.place_step_rewards(any_tok, tokens, lengths, steps, T)
  for i, (ids, row_steps) in enumerate(zip(rows, steps)):
    want_t = []
    for offset, _ in row_steps:
      # The first token whose prefix decodes to at least `offset` characters.
      want_t.append(next(t for t in range(len(ids))
                         if len(any_tok.decode(ids[:t + 1]).rstrip("\ufffd")) >= offset))
    assert sorted(np.flatnonzero(mask[i])) == sorted(set(want_t)), STEP_TRACES[i]
    for (offset, r), t in zip(row_steps, want_t):
      assert rewards[i, t] >= r
  assert mask.sum() == sum(len(set(s)) for s in steps)
