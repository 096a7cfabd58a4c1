"""Final-answer extraction and mathematical grading of model completions.

`extract_answer` finds the final answer in a completion; `grade` decides whether it is
mathematically equivalent to a gold answer (LaTeX, with or without `$`).

Two extraction modes. "strict" (the default, for RL rewards) reads R1's format: the <answer>
tag, else the last \\boxed{} (several boxes joined only by commas, "and", "or" or "x =" at the
end are one list answer: `\\boxed{1}, \\boxed{2}` is {1, 2}), else GSM8K's '#### n', else
"the answer is X". "flexible" (for evaluating models not trained on that format) falls back,
when none of those is found, to the last math expression (display $$..$$, \\[..\\] or inline
$..$, \\(..\\), whichever closes last), then the last number in the text, as the common
evaluators do.

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

EXTRACTION_MODES = ("strict", "flexible")
MAX_JOINED_BOXES = 8
MAX_BOX_GAP = 64  # Characters between boxes that are one answer (bounds the gap regex).

_ANSWER_IS_RE = re.compile(r"answer\s*(?:is|:)\s*:?\s*", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"\.(?=\s|$)")
# What may stand between boxes that together are one answer: "$\boxed{1}$, $\boxed{2}$",
# "\boxed{-3} and \boxed{4}", "x = \boxed{2} or x = \boxed{1}".
_BOX_GAP_RE = re.compile(
    r"[\s$]*(?:,|;|\\quad|\\qquad|\\text\{\s*(?:and|or)\s*\}|and|or)[\s$]*"
    r"(?:[a-zA-Z](?:_\{?\w+\}?)?\s*=\s*)?[\s$]*")
_BARE_ARGUMENT_RE = re.compile(r"[^\s$]+")
_MATH_DELIMITER_RE = re.compile(r"\$\$|\$|\\\[|\\\]|\\\(|\\\)")
_PROSE_WORD_RE = re.compile(r"[A-Za-z]{3,}")
_MATH_CLOSER = {"$$": "$$", "$": "$", "\\[": "\\]", "\\(": "\\)"}
_NUMBER_RE = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?|-?\.\d+")


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


def _box_at(s: str, start: int, stop: int) -> tuple[str, int] | None:
  """(content, end) of the \\boxed/\\fbox starting at `start`, its argument before `stop`."""
  after = start + (6 if s.startswith("\\boxed", start) else 5)
  i = after
  while i < stop and s[i].isspace():
    i += 1
  if s.startswith("{", i):
    j = matching_brace(s, i, stop)
    return (s[i + 1:j], j + 1) if j > 0 else None
  m = _BARE_ARGUMENT_RE.match(s, i, stop)  # "\boxed 5": the argument ends at a space.
  return (m.group(), m.end()) if m and not s[after:after + 1].isalpha() else None


def _box_start(s: str, stop: int) -> int:
  return max(s.rfind("\\boxed", 0, stop), s.rfind("\\fbox", 0, stop))


def _last_boxed(s: str) -> str | None:
  """The last box's content; boxes before it joined by only a separator are listed with it."""
  start = _box_start(s, len(s))
  if start < 0:
    return None
  last = _box_at(s, start, len(s))
  if last is None:
    return None
  contents = [last[0]]
  while len(contents) < MAX_JOINED_BOXES:
    prev = _box_start(s, start)
    if prev < 0:
      break
    box = _box_at(s, prev, start)
    if (box is None or start - box[1] > MAX_BOX_GAP
        or not _BOX_GAP_RE.fullmatch(s, box[1], start)):
      break
    contents.append(box[0])
    start = prev
  return ", ".join(reversed(contents))


def _last_math(s: str) -> str | None:
  """Content of the last closed display or inline math ($$..$$, \\[..\\], $..$, \\(..\\)), by
  one left-to-right pass over the delimiters (linear time on any input)."""
  s = s.replace("\\$", "  ")  # \$ is a currency sign, not math mode.
  spans, opening, start = [], None, 0
  for m in _MATH_DELIMITER_RE.finditer(s):
    delimiter = m.group()
    if opening is None:
      if delimiter in _MATH_CLOSER:
        opening, start = delimiter, m.end()
    elif delimiter == _MATH_CLOSER[opening]:
      spans.append(s[start:m.start()])
      opening = None
  for content in reversed(spans):
    # "$18 for apples and $20": two currency signs around prose, not math.
    if "\\" in content or len(_PROSE_WORD_RE.findall(content)) < 2:
      return content
  return None


def _last_number(s: str) -> str | None:
  last = None
  for last in _NUMBER_RE.finditer(s):
    pass
  return None if last is None else last.group()


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


_FINDERS = {"strict": (_answer_tag, _last_boxed, _gsm8k, _answer_is),
            "flexible": (_answer_tag, _last_boxed, _gsm8k, _answer_is, _last_math,
                         _last_number)}


def check_extraction(extraction: str) -> None:
  if extraction not in _FINDERS:
    raise ValueError(f"extraction must be one of {EXTRACTION_MODES}, got {extraction!r}")


def extract_answer(text: str, extraction: str = "strict") -> str | None:
  """The final answer: <answer>..</answer> (a \\boxed{}, '#### n' or 'the answer is X'
  inside it wins), else the last \\boxed{} or \\fbox{} (with boxes listed just before it),
  else GSM8K '#### n', else '... the answer is X'; "flexible" then tries the last math
  expression and the last number. None when there is none."""
  check_extraction(extraction)
  if not isinstance(text, str):
    return None
  tail = text[-EXTRACT_WINDOW:]
  for finder in _FINDERS[extraction]:
    found = finder(tail)
    if found is not None and found.strip():
      return found.strip()
  return None


# Comma groupings of thousands (1,000) were removed by `normalize`; one comma left between
# digits, where the gold answer is a single number, is a decimal comma.
_DECIMAL_COMMA_RE = re.compile(r"-?\d+,\d+")


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
  if tg is not None and tg[0] == "num" and _DECIMAL_COMMA_RE.fullmatch(a):
    a = a.replace(",", ".")  # "1000,99" against one number: a decimal comma, not a list.
  if tg is None:  # A word answer ("\text{Evelyn}", "(B)") or one this parser cannot read.
    return normalize.text_key(a) == normalize.text_key(g)
  ta = _tree(a)
  return ta is not None and equivalence.equivalent(tg, ta)


def grade(completion: str, gold, extraction: str = "strict") -> bool:
  """Extracts the final answer of `completion` (`extraction`: "strict" or "flexible", see the
  module docstring) and checks it against `gold`."""
  check_extraction(extraction)
  if gold is None or not isinstance(completion, str):
    return False
  answer = extract_answer(completion, extraction)
  return answer is not None and answers_match(answer, str(gold))
