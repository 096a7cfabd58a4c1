"""Tokenizers read from files: a Hugging Face `tokenizer.json` (`HFTokenizer`, through the
`tokenizers` library) or a SentencePiece `.model` (`SentencePieceTokenizer`), and
`load_tokenizer`, which picks one (or a toy `CharTokenizer`) from a spec.
"""
from __future__ import annotations

import json
import os
import pathlib
from typing import Callable, Sequence

import sentencepiece
from sentencepiece import sentencepiece_model_pb2
import tokenizers

from r1jax import tokenizers as tokenizers_lib
from r1jax.tokenizers import CharTokenizer, Offsets, Tokenizer, char_tokenizer_for_math


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
  ByteLevel one trims whitespace out of the offsets, which `tokenizers_lib.contiguous` gives back.
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
    return list(enc.ids), tokenizers_lib.contiguous([tuple(o) for o in enc.offsets], len(text))

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
    return ids, tokenizers_lib.contiguous(spans, len(text))

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
