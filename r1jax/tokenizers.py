"""One small tokenizer interface for every vocabulary r1jax uses.

Implementations: `CharTokenizer` (toy tasks), `HFTokenizer` (a Hugging Face `tokenizer.json`
through the `tokenizers` library) and `SentencePieceTokenizer` (a SentencePiece `.model`);
`load_tokenizer` picks one from a spec. Text lives only here, in templates, rewards and data:
the model and sampler see integer ids.
"""
from __future__ import annotations

import abc
import bisect
import json
import os
import pathlib
from typing import Callable, Sequence

import sentencepiece
from sentencepiece import sentencepiece_model_pb2
import tokenizers

Offsets = list[tuple[int, int]]


class Tokenizer(abc.ABC):
  """encode/decode plus the ids the sampler and trainer need."""

  @property
  @abc.abstractmethod
  def vocab_size(self) -> int:
    """Number of ids (the model's embedding rows must be >= this)."""

  @property
  @abc.abstractmethod
  def pad_id(self) -> int:
    ...

  @property
  @abc.abstractmethod
  def eos_id(self) -> int:
    ...

  @property
  def bos_id(self) -> int | None:
    return None

  @property
  def special_ids(self) -> dict[str, int]:
    """Special token text -> id (e.g. '<think>', '</think>', '<|im_end|>')."""
    return {}

  @abc.abstractmethod
  def encode_with_offsets(self, text: str) -> tuple[list[int], Offsets]:
    """Ids plus, for each id, the [start, end) character span of `text` it covers.

    Spans are non-decreasing, leave no gaps and together cover all of `text`; tokens that
    each emit part of one character (byte fallback) all carry that character's span.
    """

  def encode(self, text: str, add_bos: bool = False) -> list[int]:
    ids, _ = self.encode_with_offsets(text)
    if add_bos and self.bos_id is not None:
      ids = [self.bos_id] + ids
    return ids

  @abc.abstractmethod
  def decode(self, ids: Sequence[int], skip_special: bool = False) -> str:
    ...

  def token_to_id(self, token: str) -> int | None:
    """Id of a token given by its text (special or ordinary), or None."""
    return self.special_ids.get(token)

  def decode_with_offsets(self, ids: Sequence[int]) -> tuple[str, list[int]]:
    """(decode(ids), ends): ends[t] is the length of the text once token t has been emitted.

    Used to place what the grader reports at character offsets (step ends) onto the tokens
    that produced them. Decoding one token at a time misplaces them on real tokenizers
    (byte-level BPE splits a character's bytes across tokens; SentencePiece drops or adds a
    leading space), so text is emitted incrementally as streaming detokenisers do: each new
    token is decoded with a few tokens of left context, and its text is released only once
    it no longer ends in an incomplete character (U+FFFD). Where the pieces do not add up to
    the full decode, the exact O(T^2) prefix decode is used instead.
    """
    ids = [int(i) for i in ids]
    text = self.decode(ids)
    ends, out, prefix, read = [], [], 0, 0
    for t in range(len(ids)):
      head = self.decode(ids[prefix:read]) if read > prefix else ""
      full = self.decode(ids[prefix:t + 1])
      if len(full) > len(head) and not full.endswith("\ufffd") and full.startswith(head):
        out.append(full[len(head):])
        prefix, read = max(read - 4, 0), t + 1  # Keep a little left context.
        # Re-decoding from the new left edge must reproduce what was emitted after it.
      ends.append(sum(map(len, out)))
    if "".join(out) != text:
      ends = [len(self.decode(ids[:t + 1])) for t in range(len(ids))]
    return text, ends


class CharTokenizer(Tokenizer):
  """Character-level vocabulary with whole-word special tokens.

  Ids: 0 <pad>, 1 <bos>, 2 <eos>, then the special tokens (e.g. '<think>'), then one id per
  character of `alphabet`. Special tokens are matched greedily (longest first) before
  characters, so '</think>' is one token: a single end-of-thinking id makes budget forcing
  and stop handling exact for toy models. Unknown characters raise, naming the character and
  position, rather than being silently dropped.
  """

  PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"

  def __init__(self, alphabet: str, special_tokens: Sequence[str] = ()):
    if len(set(alphabet)) != len(alphabet):
      raise ValueError("CharTokenizer: alphabet has repeated characters")
    self._specials = [self.PAD, self.BOS, self.EOS] + [t for t in special_tokens]
    if len(set(self._specials)) != len(self._specials):
      raise ValueError("CharTokenizer: repeated special tokens")
    self._alphabet = alphabet
    self._id_of = {t: i for i, t in enumerate(self._specials)}
    base = len(self._specials)
    self._char_id = {c: base + i for i, c in enumerate(alphabet)}
    self._text_of = list(self._specials) + list(alphabet)
    # Longest-first so '</think>' wins over '<'.
    self._match_order = sorted(special_tokens, key=len, reverse=True)

  @property
  def vocab_size(self) -> int:
    return len(self._text_of)

  @property
  def pad_id(self) -> int:
    return 0

  @property
  def bos_id(self) -> int:
    return 1

  @property
  def eos_id(self) -> int:
    return 2

  @property
  def special_ids(self) -> dict[str, int]:
    return dict(self._id_of)

  def token_to_id(self, token: str) -> int | None:
    if token in self._id_of:
      return self._id_of[token]
    return self._char_id.get(token)

  def encode_with_offsets(self, text: str) -> tuple[list[int], Offsets]:
    ids, offsets, i = [], [], 0
    while i < len(text):
      for tok in self._match_order:
        if text.startswith(tok, i):
          ids.append(self._id_of[tok])
          offsets.append((i, i + len(tok)))
          i += len(tok)
          break
      else:
        c = text[i]
        if c not in self._char_id:
          raise ValueError(f"CharTokenizer: character {c!r} at position {i} is not in the "
                           f"alphabet")
        ids.append(self._char_id[c])
        offsets.append((i, i + 1))
        i += 1
    return ids, offsets

  def decode(self, ids: Sequence[int], skip_special: bool = False) -> str:
    out = []
    n_special = len(self._specials)
    for i in ids:
      i = int(i)
      if not 0 <= i < len(self._text_of):
        raise ValueError(f"CharTokenizer: id {i} out of range [0, {len(self._text_of)})")
      if i < 3 or (skip_special and i < n_special):
        continue  # pad/bos/eos never render as text
      out.append(self._text_of[i])
    return "".join(out)

  def to_json(self) -> str:
    return json.dumps({"type": "char", "alphabet": self._alphabet,
                       "special_tokens": self._specials[3:]})


# The alphabet of the synthetic reasoning tasks (arithmetic chains, Countdown) and the R1
# tags as single tokens.
MATH_ALPHABET = "0123456789+-*/=()., \n:?abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'"
R1_SPECIAL_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")


def char_tokenizer_for_math() -> CharTokenizer:
  """The default toy-task vocabulary (about 90 ids)."""
  return CharTokenizer(MATH_ALPHABET, R1_SPECIAL_TOKENS)


def _contiguous(spans: Offsets, n_chars: int) -> Offsets:
  """Closes gaps in library spans so they meet the `encode_with_offsets` contract.

  Libraries leave some characters out of every span (ByteLevel offset trimming drops the
  leading space of ' apple'); such characters belong to the token that follows them, since
  both byte-level BPE and SentencePiece attach whitespace to the start of the next piece.
  """
  out, prev_end = [], 0
  for s, e in spans:
    s = min(s, prev_end)
    e = max(e, s)
    out.append((s, e))
    prev_end = max(prev_end, e)
  if out and out[-1][1] < n_chars:
    out[-1] = (out[-1][0], n_chars)
  return out


def covering_tokens(offsets: Offsets, start: int, end: int) -> tuple[int, int]:
  """[first, last) indices of the tokens whose spans meet the characters [start, end).

  With `encode_with_offsets` spans these tokens cover the whole character span, and the first
  and last of them each hold at least one of its characters (e.g. the tokens of an answer).
  """
  n_chars = offsets[-1][1] if offsets else 0
  if not 0 <= start < end <= n_chars:
    raise ValueError(f"covering_tokens: span [{start}, {end}) is empty or outside the text "
                     f"[0, {n_chars})")
  first = bisect.bisect_right([e for _, e in offsets], start)
  last = bisect.bisect_left([s for s, _ in offsets], end)
  return first, last


def _check_ids(ids: Sequence[int], vocab_size: int, who: str) -> list[int]:
  out = [int(i) for i in ids]
  for i in out:
    if not 0 <= i < vocab_size:
      raise ValueError(f"{who}: id {i} out of range [0, {vocab_size})")
  return out


def _token_text(value) -> str | None:
  """tokenizer_config.json stores a token as a string or as {'content': ...}."""
  if isinstance(value, dict):
    return value.get("content")
  return value


class HFTokenizer(Tokenizer):
  """A Hugging Face `tokenizer.json` (Qwen2.5, Llama-3, ...), without transformers.

  Special ids are the tokenizer's added tokens ('<|im_start|>', '<think>', ...); they are
  matched in text, so rendered chat templates encode as the model was trained. The library's
  post-processor never runs its template (BOS comes only from `encode(add_bos=True)`), but a
  ByteLevel one trims whitespace out of the offsets, which `_contiguous` gives back.
  """

  # Used when no tokenizer_config.json names the end-of-sequence token.
  EOS_CANDIDATES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>")

  def __init__(self, tokenizer: tokenizers.Tokenizer, eos_token: str,
               pad_token: str | None = None, bos_token: str | None = None,
               source: str = "HFTokenizer"):
    self._tok = tokenizer
    self._source = source
    self._eos = self._require(eos_token, "eos_token")
    self._pad = self._eos if pad_token is None else self._require(pad_token, "pad_token")
    self._bos = None if bos_token is None else self._require(bos_token, "bos_token")
    self._special = {t.content: i for i, t in tokenizer.get_added_tokens_decoder().items()}

  def _require(self, token: str, field: str) -> int:
    i = self._tok.token_to_id(token)
    if i is None:
      raise ValueError(f"{self._source}: {field} {token!r} is not in the vocabulary")
    return i

  @classmethod
  def from_file(cls, path: str | os.PathLike, eos_token: str | None = None,
                pad_token: str | None = None, bos_token: str | None = None) -> HFTokenizer:
    """From a tokenizer.json or a Hugging Face folder; token arguments override the folder's
    tokenizer_config.json (bos/eos/pad), and eos falls back to EOS_CANDIDATES."""
    path = pathlib.Path(path)
    json_path = path / "tokenizer.json" if path.is_dir() else path
    if not json_path.is_file():
      raise ValueError(f"HFTokenizer: {json_path} not found")
    try:
      tok = tokenizers.Tokenizer.from_file(str(json_path))
    except Exception as e:  # The library raises a bare Exception on malformed files.
      raise ValueError(f"HFTokenizer: cannot parse {json_path}: {e}") from e
    tokens = {}
    config_path = json_path.parent / "tokenizer_config.json"
    if config_path.is_file():
      config = json.loads(config_path.read_text())
      tokens = {k: _token_text(config.get(k)) for k in ("eos_token", "pad_token", "bos_token")}
    eos_token = eos_token or tokens.get("eos_token")
    if eos_token is None:
      vocab = tok.get_vocab(with_added_tokens=True)
      eos_token = next((t for t in cls.EOS_CANDIDATES if t in vocab), None)
      if eos_token is None:
        raise ValueError(f"HFTokenizer: {json_path}: no eos_token in {config_path.name} and "
                         f"none of {cls.EOS_CANDIDATES} in the vocabulary; pass eos_token=")
    return cls(tok, eos_token, pad_token or tokens.get("pad_token"),
               bos_token or tokens.get("bos_token"), source=str(json_path))

  @property
  def vocab_size(self) -> int:
    return self._tok.get_vocab_size(with_added_tokens=True)

  @property
  def pad_id(self) -> int:
    return self._pad

  @property
  def eos_id(self) -> int:
    return self._eos

  @property
  def bos_id(self) -> int | None:
    return self._bos

  @property
  def special_ids(self) -> dict[str, int]:
    return dict(self._special)

  def token_to_id(self, token: str) -> int | None:
    return self._tok.token_to_id(token)

  def encode_with_offsets(self, text: str) -> tuple[list[int], Offsets]:
    enc = self._tok.encode(text, add_special_tokens=False)
    return list(enc.ids), _contiguous([tuple(o) for o in enc.offsets], len(text))

  def decode(self, ids: Sequence[int], skip_special: bool = False) -> str:
    ids = _check_ids(ids, self.vocab_size, self._source)
    return self._tok.decode(ids, skip_special_tokens=skip_special)


class SentencePieceTokenizer(Tokenizer):
  """A SentencePiece model (Llama-2, T5, Gemma style) through the `sentencepiece` package.

  Special ids are the control, unknown and user-defined pieces. The pad id is the model's pad
  piece, else eos (padding is masked everywhere, so any valid id serves).
  """

  def __init__(self, model_proto: bytes, source: str = "SentencePieceTokenizer"):
    self._source = source
    try:
      proto = sentencepiece_model_pb2.ModelProto.FromString(model_proto)
      self._sp = sentencepiece.SentencePieceProcessor(model_proto=model_proto)
    except Exception as e:  # protobuf / sentencepiece raise assorted types on bad bytes.
      raise ValueError(f"{source}: not a SentencePiece model: {e}") from e
    if self._sp.eos_id() < 0:
      raise ValueError(f"{source}: the model defines no eos piece (eos_id = -1)")
    piece_type = sentencepiece_model_pb2.ModelProto.SentencePiece
    special_types = (piece_type.CONTROL, piece_type.UNKNOWN, piece_type.USER_DEFINED)
    self._special = {p.piece: i for i, p in enumerate(proto.pieces) if p.type in special_types}

  @classmethod
  def from_file(cls, path: str | os.PathLike) -> SentencePieceTokenizer:
    path = pathlib.Path(path)
    if not path.is_file():
      raise ValueError(f"SentencePieceTokenizer: {path} not found")
    return cls(path.read_bytes(), source=str(path))

  @property
  def vocab_size(self) -> int:
    return self._sp.get_piece_size()

  @property
  def pad_id(self) -> int:
    return self._sp.pad_id() if self._sp.pad_id() >= 0 else self._sp.eos_id()

  @property
  def eos_id(self) -> int:
    return self._sp.eos_id()

  @property
  def bos_id(self) -> int | None:
    return self._sp.bos_id() if self._sp.bos_id() >= 0 else None

  @property
  def special_ids(self) -> dict[str, int]:
    return dict(self._special)

  def token_to_id(self, token: str) -> int | None:
    i = self._sp.piece_to_id(token)
    # piece_to_id answers unk for any piece it does not know.
    return None if i == self._sp.unk_id() and token != self._sp.id_to_piece(i) else i

  def encode_with_offsets(self, text: str) -> tuple[list[int], Offsets]:
    out = self._sp.encode(text, return_type="offset_mapping")
    ids = list(out["ids"])
    # Byte-fallback pieces before the last byte of a character get an empty span; give them
    # the character they help spell.
    spans = [(s, s + 1) if s == e and self._sp.is_byte(i) else (s, e)
             for i, (s, e) in zip(ids, out["offsets"])]
    return ids, _contiguous(spans, len(text))

  def decode(self, ids: Sequence[int], skip_special: bool = False) -> str:
    ids = _check_ids(ids, self.vocab_size, self._source)
    if skip_special:
      special = set(self._special.values())
      ids = [i for i in ids if i not in special]
    return self._sp.decode(ids)


# 'char:<name>' specs.
CHAR_VOCABS: dict[str, Callable[[], CharTokenizer]] = {"math": char_tokenizer_for_math}


def load_tokenizer(spec: str | os.PathLike) -> Tokenizer:
  """'char:<name>' (see CHAR_VOCABS), a folder holding tokenizer.json (preferred) or
  tokenizer.model, or a path to such a .json / .model file."""
  text = str(spec)
  if text.startswith("char:"):
    name = text[len("char:"):]
    if name not in CHAR_VOCABS:
      raise ValueError(f"tokenizer: unknown char vocabulary {name!r}; known: "
                       f"{sorted(CHAR_VOCABS)}")
    return CHAR_VOCABS[name]()
  path = pathlib.Path(text)
  if path.is_dir():
    if (path / "tokenizer.json").is_file():
      return HFTokenizer.from_file(path)
    if (path / "tokenizer.model").is_file():
      return SentencePieceTokenizer.from_file(path / "tokenizer.model")
    raise ValueError(f"tokenizer: {path} holds neither tokenizer.json nor tokenizer.model")
  if path.is_file() and path.suffix == ".json":
    return HFTokenizer.from_file(path)
  if path.is_file() and path.suffix == ".model":
    return SentencePieceTokenizer.from_file(path)
  raise ValueError(f"tokenizer: cannot load {text!r}: expected 'char:<name>', a folder with "
                   f"tokenizer.json or tokenizer.model, or an existing .json / .model file")
