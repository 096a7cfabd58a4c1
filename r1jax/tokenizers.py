"""One small tokenizer interface for every vocabulary r1jax uses, and the toy one.

`Tokenizer` (the interface), `CharTokenizer` (toy tasks) and the offset helpers live here; the
tokenizers read from files (`HFTokenizer`, `SentencePieceTokenizer`) and `load_tokenizer`,
which picks one from a spec, live in r1jax/file_tokenizers.py. Text lives only here, in templates, rewards and data:
the model and sampler see integer ids.
"""
from __future__ import annotations

import abc
import bisect
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


def contiguous(spans: Offsets, n_chars: int) -> Offsets:
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
