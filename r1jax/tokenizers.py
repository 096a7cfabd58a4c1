"""One small tokenizer interface for every vocabulary r1jax uses.

Implementations: `CharTokenizer` (toy tasks). Hugging Face `tokenizer.json` and SentencePiece
models are added behind the same interface. Text lives only here, in templates, rewards and
data: the model and sampler see integer ids.
"""
from __future__ import annotations

import abc
import json
from typing import Sequence

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
    """Ids plus, for each id, the [start, end) character span of `text` it covers."""

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
