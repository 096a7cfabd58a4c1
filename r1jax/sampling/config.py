"""The sampler's settings (`SamplerConfig`) and its stop-reason codes.

Every field is static: a SamplerConfig is hashed into the jitted decode loop (sampler.py).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

STOP_EOS, STOP_TOKEN, STOP_SEQUENCE, STOP_LENGTH, STOP_BUDGET = 1, 2, 3, 4, 5
_STOP_NAMES = {STOP_EOS: "eos", STOP_TOKEN: "stop_token", STOP_SEQUENCE: "stop_sequence",
               STOP_LENGTH: "length", STOP_BUDGET: "budget"}


def stop_reason_name(code: int) -> str:
  """'eos', 'stop_token', 'stop_sequence', 'length' or 'budget'."""
  if int(code) not in _STOP_NAMES:
    raise ValueError(f"stop_reason_name: unknown stop reason code {code!r}")
  return _STOP_NAMES[int(code)]


_ID_TUPLES = ("stop_token_ids", "wait_ids", "answer_prefix_ids", "tip_token_ids")
_SEQ_TUPLES = ("stop_sequences", "think_end_seqs", "tip_sequences")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SamplerConfig:
  """Static sampling settings (hashable: a jit static argument). Ids are token ids.

  Greedy when temperature == 0; top_k 0, top_p 1 and min_p 0 switch those off. eos_id -1 means
  no EOS. Budget forcing (s1) and the answer budget need think_end_id >= 0:
  max_think_tokens > 0 cuts thinking at that many tokens by appending think_end_id then
  answer_prefix_ids; min_think_tokens > 0 replaces an early think_end_id by wait_ids, at most
  max_waits times; max_answer_tokens > 0 stops a row (STOP_BUDGET) after that many tokens
  past the end of thinking. TIP subtracts tip_alpha from the logits of tip_token_ids (and of the
  first token of each multi-token word in tip_sequences) during the first tip_beta steps of
  each thought (a thought starts at step 0 and at the first token of every switch word, once
  the word is complete). With think_end_seqs the delimiter may be several tokens: any of its
  spellings ends thinking, and under min_think_tokens its first token, eos or a stop token is
  replaced by wait_ids.
  stop_sequences are id sequences tokenised by the caller, who also cuts text-level stop
  strings on the host (a string can tokenise differently inside a completion).
  """
  max_new_tokens: int
  eos_id: int
  temperature: float = 1.0
  top_k: int = 0
  top_p: float = 1.0
  min_p: float = 0.0
  pad_id: int = 0
  stop_token_ids: tuple[int, ...] = ()
  stop_sequences: tuple[tuple[int, ...], ...] = ()
  n: int = 1
  think_end_id: int = -1
  min_think_tokens: int = 0
  max_think_tokens: int = 0
  wait_ids: tuple[int, ...] = ()
  max_waits: int = 0
  answer_prefix_ids: tuple[int, ...] = ()
  max_answer_tokens: int = 0
  tip_token_ids: tuple[int, ...] = ()
  tip_alpha: float = 0.0
  tip_beta: int = 0
  # Multi-token delimiters as id sequences (spellings.py gives a tokenizer's spellings):
  # think_end_seqs are the end-of-thinking delimiter's spellings, the first one forced (used
  # instead of think_end_id when set); tip_sequences are multi-token thought-switch words.
  think_end_seqs: tuple[tuple[int, ...], ...] = ()
  tip_sequences: tuple[tuple[int, ...], ...] = ()
  vocab_limit: int = 0  # Ids >= this are never sampled (padded model vocab); 0 is off.
  # Stop strings as text: not used on device; callers cut completions at them on the host
  # with `stop_text.cut_output` (they may tokenise differently in context).
  stop_strings: tuple[str, ...] = ()

  def __post_init__(self):
    def fail(field, msg):
      raise ValueError(f"SamplerConfig.{field} {msg}, got {getattr(self, field)!r}")

    def as_ids(field, value):
      if isinstance(value, (int, np.integer)) or not isinstance(value, Sequence):
        fail(field, "must be a sequence of token ids")
      if not all(isinstance(i, (int, np.integer)) and i >= 0 for i in value):
        fail(field, "must hold non-negative int token ids")
      return tuple(int(i) for i in value)

    for f in _ID_TUPLES:
      object.__setattr__(self, f, as_ids(f, getattr(self, f)))
    for f in ("stop_sequences", "think_end_seqs", "tip_sequences"):
      if not isinstance(getattr(self, f), Sequence):
        fail(f, "must be a sequence of id sequences")
      seqs = tuple(as_ids(f, s) for s in getattr(self, f))
      if any(not s for s in seqs):
        fail(f, "must not contain an empty sequence")
      object.__setattr__(self, f, seqs)
    if isinstance(self.stop_strings, str) or not all(
        isinstance(x, str) and x for x in self.stop_strings):
      fail("stop_strings", "must be a sequence of non-empty strings")
    object.__setattr__(self, "stop_strings", tuple(self.stop_strings))
    for f in ("temperature", "top_p", "min_p", "tip_alpha"):
      object.__setattr__(self, f, float(getattr(self, f)))
    for f in ("max_new_tokens", "n"):
      if not isinstance(getattr(self, f), int) or getattr(self, f) < 1:
        fail(f, "must be an int >= 1")
    for f in ("top_k", "pad_id", "min_think_tokens", "max_think_tokens", "max_waits",
              "max_answer_tokens", "tip_beta", "vocab_limit"):
      if not isinstance(getattr(self, f), int) or getattr(self, f) < 0:
        fail(f, "must be an int >= 0")
    for f in ("eos_id", "think_end_id"):
      if not isinstance(getattr(self, f), int) or getattr(self, f) < -1:
        fail(f, "must be a token id or -1 (none)")
    if self.temperature < 0:
      fail("temperature", "must be >= 0 (0 is greedy)")
    if not 0.0 < self.top_p <= 1.0:
      fail("top_p", "must be in (0, 1] (1 is off)")
    if not 0.0 <= self.min_p < 1.0:
      fail("min_p", "must be in [0, 1) (0 is off)")
    uses_think = self.min_think_tokens or self.max_think_tokens or self.max_answer_tokens
    if uses_think and not self.think_end_spellings:
      fail("think_end_id", "must be set (or think_end_seqs) for min/max_think_tokens or "
           "max_answer_tokens")
    if self.min_think_tokens and (not self.wait_ids or self.max_waits < 1):
      fail("wait_ids", "must be non-empty, with max_waits >= 1, when min_think_tokens > 0")
    if set(self.wait_ids) & {s[0] for s in self.think_end_spellings}:
      fail("wait_ids", "must not contain the first token of the end-of-thinking delimiter")
    if self.max_think_tokens and self.min_think_tokens > self.max_think_tokens:
      fail("min_think_tokens", f"must be <= max_think_tokens ({self.max_think_tokens})")
    if (self.tip_token_ids or self.tip_sequences) and self.tip_beta < 1:
      fail("tip_beta", "must be >= 1 when tip_token_ids or tip_sequences are set")

  @property
  def think_end_spellings(self) -> tuple[tuple[int, ...], ...]:
    """The end-of-thinking delimiter's id sequences, the forced one first; () if none."""
    if self.think_end_seqs:
      return self.think_end_seqs
    return ((self.think_end_id,),) if self.think_end_id >= 0 else ()

  @property
  def tip_words(self) -> tuple[tuple[int, ...], ...]:
    """Every thought-switch word as an id sequence (single tokens as length-1 sequences)."""
    return tuple((i,) for i in self.tip_token_ids) + self.tip_sequences

  def check_vocab(self, vocab_size: int):
    """Raises if any configured id is outside the model's vocabulary."""
    singles = {"eos_id": self.eos_id, "pad_id": self.pad_id, "think_end_id": self.think_end_id}
    for f, i in singles.items():
      if i >= vocab_size:
        raise ValueError(f"SamplerConfig.{f}={i} is outside the vocabulary ({vocab_size})")
    for f in _ID_TUPLES + _SEQ_TUPLES:
      v = getattr(self, f)
      ids = [i for s in v for i in s] if f in _SEQ_TUPLES else list(v)
      if any(i >= vocab_size for i in ids):
        raise ValueError(f"SamplerConfig.{f} has ids outside the vocabulary ({vocab_size}): "
                         f"{v!r}")
