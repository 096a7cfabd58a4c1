"""Final-answer extraction and mathematical grading of model completions.

`extract_answer` finds the final answer in a completion; `grade` decides whether it is
mathematically equivalent to a gold answer (LaTeX, with or without `$`).

Approach (why no ANTLR parser or verifier library): the grader runs on text written by a model
that is optimised to exploit it, thousands of times a second. A small recursive-descent parser
(`latex.py`) gives exact control over what is accepted and over every bound, needs no new
dependency, and is fast; values are compared with exact rationals and seeded random points
(`equivalence.py`), and sympy serves only as a referee on trees built here, never on text (no
`sympify`/`parse_expr`/`eval`). sympy's `parse_latex` needs an ANTLR runtime pinned to one
version; Math-Verify adds that runtime too and enforces its time limits with SIGALRM, which
fails off the main thread (huggingface/Math-Verify issues 50, 55). Here the time limit belongs
to the caller (`registry`, `pool`), where a hung grading can be abandoned.

Input bounds: only the last EXTRACT_WINDOW characters of a completion are searched; answers
longer than MAX_ANSWER_CHARS are compared as plain strings only; the parser caps tokens and
nesting (`latex.MAX_TOKENS`, `latex.MAX_DEPTH`) and evaluation caps number sizes
(`equivalence.MAX_BITS`).
"""
from __future__ import annotations

import functools
import re

from r1jax.rewards import equivalence
from r1jax.rewards import latex
from r1jax.rewards import normalize

EXTRACT_WINDOW = 32_768
MAX_ANSWER_CHARS = 1_000

_ANSWER_IS_RE = re.compile(r"answer\s*(?:is|:)\s*:?\s*", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"\.(?=\s|$)")


def matching_brace(s: str, start: int, stop: int | None = None) -> int:
  """Index of the '}' closing the '{' at `start` (escaped \\{ \\} skipped) before `stop`,
  or -1."""
  depth, i, stop = 0, start, len(s) if stop is None else min(stop, len(s))
  while i < stop:
    ch = s[i]
    if ch == "\\":
      i += 2
      continue
    if ch == "{":
      depth += 1
    elif ch == "}":
      depth -= 1
      if depth == 0:
        return i
    i += 1
  return -1


def _last_boxed(s: str) -> str | None:
  start = max(s.rfind("\\boxed"), s.rfind("\\fbox"))
  if start < 0:
    return None
  i = start + (6 if s.startswith("\\boxed", start) else 5)
  rest = s[i:].lstrip()
  if rest.startswith("{"):
    j = matching_brace(rest, 0)
    return rest[1:j] if j > 0 else None
  m = re.match(r"[^\s$]+", rest)  # "\boxed 5": the argument runs to the next space.
  return m.group() if m and not s[i:i + 1].isalpha() else None


def _gsm8k(s: str) -> str | None:
  start = s.rfind("####")
  return None if start < 0 else s[start + 4:].strip().split("\n", 1)[0]


def _answer_is(s: str) -> str | None:
  last = None
  for last in _ANSWER_IS_RE.finditer(s):
    pass
  if last is None:
    return None
  line = s[last.end():].split("\n", 1)[0]
  end = _SENTENCE_END_RE.search(line)
  return (line[:end.start()] if end else line).strip().strip("$").strip()


def _answer_tag(s: str) -> str | None:
  start = s.rfind("<answer>")
  if start < 0:
    return None
  end = s.find("</answer>", start)
  # A sampler that stops on "</answer>" may cut the closing tag; the rest is the answer.
  content = s[start + len("<answer>"):end if end >= 0 else len(s)]
  for finder in (_last_boxed, _gsm8k, _answer_is):  # "<answer>The answer is 5</answer>"
    found = finder(content)
    if found is not None and found.strip():
      return found
  return content


def extract_answer(text: str) -> str | None:
  """The final answer: <answer>..</answer> (a \\boxed{}, '#### n' or 'the answer is X'
  inside it wins), else the last \\boxed{} or \\fbox{}, else GSM8K '#### n', else
  '... the answer is X'. None when there is none."""
  if not isinstance(text, str):
    return None
  tail = text[-EXTRACT_WINDOW:]
  for finder in (_answer_tag, _last_boxed, _gsm8k, _answer_is):
    found = finder(tail)
    if found is not None and found.strip():
      return found.strip()
  return None


@functools.lru_cache(maxsize=8192)
def _tree(normalized: str):
  try:
    return latex.parse(normalized)
  except latex.ParseError:
    return None


@functools.lru_cache(maxsize=16384)
def answers_match(answer: str, gold: str) -> bool:
  """Whether the answer string is mathematically equivalent to the gold answer string."""
  if len(answer) > MAX_ANSWER_CHARS or len(gold) > MAX_ANSWER_CHARS:
    return answer.strip() == gold.strip()
  a, g = normalize.normalize(answer), normalize.normalize(gold)
  if not a or not g:
    return False
  if a == g:
    return True
  tg = _tree(g)
  if tg is None:  # A word answer ("\text{Evelyn}", "(B)") or one this parser cannot read.
    return normalize.text_key(a) == normalize.text_key(g)
  ta = _tree(a)
  return ta is not None and equivalence.equivalent(tg, ta)


def grade(completion: str, gold) -> bool:
  """Extracts the final answer of `completion` and checks it against `gold`."""
  if gold is None or not isinstance(completion, str):
    return False
  answer = extract_answer(completion)
  return answer is not None and answers_match(answer, str(gold))
