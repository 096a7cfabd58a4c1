"""Length shaping: DAPO overlong punishment, cosine length scaling, overthinking, repetition.

Lengths are in characters unless the caller supplies a token count (the registry passes
`num_tokens`). All functions are linear in the text (the n-gram count reads at most
MAX_REPETITION_WORDS words).
"""
from __future__ import annotations

import itertools
import math
import re
from typing import Callable

from r1jax.rewards import math as math_lib

MAX_REPETITION_WORDS = 50_000
MAX_EFFICIENCY_CANDIDATES = 256
MAX_SPAN_CHARS = 4096

_CANDIDATE_RE = re.compile(r"\\boxed\s*\{|answer\s*(?:is|:)|<answer>|=")
_CLAUSE_END_RE = re.compile(r"[,;]|\.(?!\d)|\s(?:and|so|then)\s")


def overlong(length: int, max_len: int, cache_len: int) -> float:
  """DAPO soft overlong punishment (arXiv 2503.14476): 0 up to max_len - cache_len, then
  linear down to -1 at max_len, -1 beyond."""
  if not 0 < cache_len <= max_len:
    raise ValueError(f"overlong needs 0 < cache_len <= max_len, got {cache_len}, {max_len}")
  free = max_len - cache_len
  if length <= free:
    return 0.0
  if length <= max_len:
    return (free - length) / cache_len
  return -1.0


def cosine(length: int, correct: bool, max_len: int, min_value_wrong: float = -1.0,
           max_value_wrong: float = -0.5, min_value_correct: float = 0.5,
           max_value_correct: float = 1.0, exceed_penalty: float = -1.0) -> float:
  """Cosine length scaling (Yeo et al. 2025, arXiv 2502.03373): a correct answer earns
  max_value_correct at length 0 falling to min_value_correct at max_len (shorter is better);
  a wrong one earns min_value_wrong at length 0 rising to max_value_wrong at max_len (when
  wrong, thinking longer is better than giving up); past max_len, exceed_penalty."""
  if max_len <= 0:
    raise ValueError(f"cosine needs max_len > 0, got {max_len}")
  if length > max_len:
    return exceed_penalty
  start, end = ((max_value_correct, min_value_correct) if correct
                else (min_value_wrong, max_value_wrong))
  return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * length / max_len))


def _answer_spans(text: str):
  """(end offset, text a grader can extract from) for the first MAX_EFFICIENCY_CANDIDATES
  answer-like spans: \\boxed{..}, "answer is .." to the line end, <answer>..</answer>, and
  "= value"; each span reads at most MAX_SPAN_CHARS characters."""
  for m in itertools.islice(_CANDIDATE_RE.finditer(text), MAX_EFFICIENCY_CANDIDATES):
    stop = min(len(text), m.end() + MAX_SPAN_CHARS)
    line_end = text.find("\n", m.end(), stop)
    line_end = stop if line_end < 0 else line_end
    if m.group() == "=":
      value = _CLAUSE_END_RE.split(text[m.end():line_end], maxsplit=1)[0]
      yield m.end() + len(value), "\\boxed{" + value.strip() + "}"
    elif m.group() == "<answer>":
      close = text.find("</answer>", m.end(), stop)
      end = line_end if close < 0 else close + len("</answer>")
      yield end, text[m.start():end]
    elif m.group().startswith("\\boxed"):
      close = math_lib.matching_brace(text, m.end() - 1, stop)
      if close > 0:
        yield close + 1, text[m.start():close + 1]
    else:
      yield line_end, text[m.start():line_end]


def first_correct_offset(text: str, is_correct: Callable[[str], bool]) -> int | None:
  """End offset of the first answer-like span that `is_correct` accepts, else None."""
  for end, span in _answer_spans(text):
    if is_correct(span):
      return end
  return None


def efficiency(text: str, is_correct: Callable[[str], bool], max_penalty: float = 1.0) -> float:
  """Overthinking penalty: -max_penalty * (1 - T_first / T), where T_first is the length up
  to the first correct answer (outcome efficiency, arXiv 2412.21187). 0 when the completion
  never reaches a correct answer (accuracy rewards handle those) or is empty."""
  first = first_correct_offset(text, is_correct) if text else None
  if first is None:
    return 0.0
  return -max_penalty * (1.0 - min(first, len(text)) / len(text))


def repetition(text: str, ngram: int = 4, max_penalty: float = -1.0) -> float:
  """max_penalty * (share of repeated word n-grams); 0 for texts shorter than one n-gram."""
  if ngram < 1:
    raise ValueError(f"repetition needs ngram >= 1, got {ngram}")
  words = text.split(maxsplit=MAX_REPETITION_WORDS)[:MAX_REPETITION_WORDS]
  grams = [tuple(words[i:i + ngram]) for i in range(len(words) - ngram + 1)]
  if not grams:
    return 0.0
  return max_penalty * (1.0 - len(set(grams)) / len(grams))
