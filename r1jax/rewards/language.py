"""Language consistency of the chain of thought (DeepSeek-R1's reward against language mixing).

R1 rewards the share of target-language words in the CoT. Here the CoT is the <think> block
(else the text before <answer>, else the whole completion); LaTeX commands, `$...$` math and
one-letter variables are ignored. With a `vocabulary` the score is the share of words in it;
otherwise it is the share of letters written in the target script (scripts are read from
Unicode character names, so no language-ID model is needed). At most MAX_COT_CHARS characters
of the CoT are read.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from typing import Iterable

MAX_COT_CHARS = 200_000

# Script name -> prefixes of Unicode character names that belong to it.
SCRIPTS = {
    "latin": ("LATIN",),
    "cjk": ("CJK", "HIRAGANA", "KATAKANA", "HANGUL"),
    "han": ("CJK",),
    "cyrillic": ("CYRILLIC",),
    "greek": ("GREEK",),
    "arabic": ("ARABIC",),
    "hebrew": ("HEBREW",),
    "devanagari": ("DEVANAGARI",),
    "thai": ("THAI",),
}

_MATH_RE = re.compile(r"\$[^$]*\$|\\[a-zA-Z]+")
_WORD_RE = re.compile(r"[^\W\d_]+")


def chain_of_thought(completion: str) -> str:
  start = completion.find("<think>")
  start = 0 if start < 0 else start + len("<think>")
  end = completion.find("</think>", start)
  if end < 0:
    end = completion.find("<answer>", start)
  return completion[start:end if end >= 0 else len(completion)][:MAX_COT_CHARS]


@functools.lru_cache(maxsize=65536)
def _script_of(ch: str) -> str:
  return unicodedata.name(ch, "").split(" ", 1)[0]


def _words(text: str) -> list[str]:
  words = _WORD_RE.findall(_MATH_RE.sub(" ", text))
  # One-letter Latin/Greek words are variables (x, n, alpha) far more often than language.
  return [w for w in words if len(w) > 1 or _script_of(w) not in ("LATIN", "GREEK")]


def consistency(completion: str, script: str = "latin",
                vocabulary: Iterable[str] | None = None) -> float:
  """Share of the CoT in the target script (by letters) or vocabulary (by words); 0.0 when
  the CoT has no words at all."""
  words = _words(chain_of_thought(completion))
  if vocabulary is not None:
    vocab = {w.lower() for w in vocabulary}
    return sum(w.lower() in vocab for w in words) / len(words) if words else 0.0
  if script not in SCRIPTS:
    raise ValueError(f"unknown script {script!r}; known: {sorted(SCRIPTS)}")
  prefixes = SCRIPTS[script]
  letters = [_script_of(ch) for w in words for ch in w]
  if not letters:
    return 0.0
  return sum(name.startswith(prefixes) for name in letters) / len(letters)
