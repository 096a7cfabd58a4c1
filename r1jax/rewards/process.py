"""Dense (per-step) rewards for step-checkable traces.

A step is an arithmetic claim `expression = number`: a line such as `12+7=19` in the synthetic
traces, a prose step `48/2 = 24`, or a GSM8K calculator annotation `<<48/2=24>>`. Each step is
reported at the character offset where it ends (the RL loop maps offsets to tokens).

- `self_checked`: a step is correct when the expression evaluates (exactly, with Fractions) to
  the written number, or to it rounded at the written number of decimals (10/3 = 3.33).
- `reference_matched`: the Meta study's dense reward (Havrilla et al. 2024): a step earns the
  reward when its result equals an intermediate result of the reference solution. Each
  reference result can be earned once (repeating "= 24" ten times earns it once), and with
  `require_correct` the step's own arithmetic must also hold, so copying the reference's numbers
  into wrong equations earns nothing.
Scanning is linear: steps are found from each '=' by bounded scans (no backtracking regex);
at most MAX_STEPS steps are read per text.
"""
from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction
from typing import NamedTuple

from r1jax.rewards import arithmetic

MAX_STEPS = 512
MAX_EXPR_CHARS = 120

_EXPR_CHARS = frozenset("0123456789.,+-*/()x \t\u00d7\u00f7\u00b7")
_ANNOTATION_RE = re.compile(r"<<([^<>=]{1,120})=([^<>]{1,40})>>")
_RESULT_RE = re.compile(r"[ \t]*\$?[ \t]*(-?\d+/\d+(?![\d.])|-?\d{1,3}(?:,\d{3})+(?:\.\d+)?"
                        r"|-?\d+(?:\.\d+)?|-?\.\d+)")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_CLAUSE_COMMA_RE = re.compile(r",(?!\d{3}(?!\d))")
_OPERATION_RE = re.compile(r"[0-9.)]\s*[-+*/\u00d7\u00f7\u00b7]\s*[-0-9.(]")


class Step(NamedTuple):
  end: int  # Character offset just past the step's result.
  expression: str
  result: str
  value: Fraction | None  # The expression's exact value; None on division by zero.


def _make_step(end: int, expression: str, result: str) -> Step | None:
  """A Step, or None when the expression is not plain arithmetic (algebra, prose)."""
  try:
    value, _ = arithmetic.evaluate(expression)
  except arithmetic.ArithmeticSyntaxError:
    return None
  except ZeroDivisionError:
    value = None
  return Step(end, expression, result, value)


def _number(text: str) -> Fraction | None:
  text = _THOUSANDS_RE.sub("", text.strip())
  try:
    return Fraction(text)
  except ValueError:
    return None


def find_steps(text: str) -> list[Step]:
  """All `expression = number` claims and <<expression=number>> annotations, in order."""
  steps: list[Step] = []
  annotated = []
  for m in _ANNOTATION_RE.finditer(text):
    if len(annotated) >= MAX_STEPS:
      break
    annotated.append((m.start(), m.end()))
    step = _make_step(m.end(), m.group(1), m.group(2))
    if step is not None:
      steps.append(step)
  spans = iter(annotated)
  span = next(spans, None)
  eq = text.find("=")
  while eq >= 0 and len(steps) < MAX_STEPS:
    while span is not None and span[1] <= eq:
      span = next(spans, None)
    if span is None or eq < span[0]:
      step = _step_at(text, eq)
      if step is not None:
        steps.append(step)
    eq = text.find("=", eq + 1)
  steps.sort(key=lambda s: s.end)
  return steps


def _step_at(text: str, eq: int) -> Step | None:
  m = _RESULT_RE.match(text, eq + 1)
  if m is None:
    return None
  start = eq
  while start > 0 and eq - start < MAX_EXPR_CHARS and text[start - 1] in _EXPR_CHARS:
    start -= 1
  # A comma that is not a thousands separator ends a clause: "so 3.33, 5*5 = 25".
  expr = _CLAUSE_COMMA_RE.split(text[start:eq])[-1]
  expr = _THOUSANDS_RE.sub("", expr)
  expr = re.sub(r"(?<=\s)x(?=\s)", "*", expr)  # "0.2 x 50"; a bare 2x is algebra, not a step.
  # The scan may have swallowed the end of an earlier clause ("=19 19*3"): try the suffixes
  # that start a token, longest first, and keep the first that is arithmetic.
  for cut in [0] + [i + 1 for i, ch in enumerate(expr) if ch in " \t("]:
    candidate = expr[cut:].strip()
    if not _OPERATION_RE.search(candidate):
      return None  # Not a computation ("x = 5", "= 24").
    step = _make_step(m.end(), candidate, m.group(1))
    if step is not None:
      return step
  return None


def step_value(step: Step) -> Fraction | None:
  return _number(step.result)


def is_correct(step: Step) -> bool:
  """Exact, or the exact value rounded to the number of decimals written."""
  claimed, value = _number(step.result), step.value
  if claimed is None or value is None:
    return False
  if value == claimed:
    return True
  decimals = len(step.result.partition(".")[2])
  return decimals > 0 and abs(value - claimed) <= Fraction(1, 2 * 10 ** decimals)


def self_checked(completion: str, correct: float = 1.0, incorrect: float = 0.0):
  """(share of correct steps, [(end offset, correct or incorrect)]); (0.0, []) with no steps."""
  steps = find_steps(completion)
  flags = [is_correct(s) for s in steps]
  rewards = [(s.end, correct if ok else incorrect) for s, ok in zip(steps, flags)]
  return (sum(flags) / len(flags) if flags else 0.0), rewards


def reference_values(solution: str) -> list[Fraction]:
  """Intermediate results of a reference solution: the result of each of its steps."""
  return [v for v in map(step_value, find_steps(solution)) if v is not None]


def reference_matched(completion: str, solution: str, reward: float = 1.0,
                      require_correct: bool = True):
  """(share of reference results reproduced, [(end offset, reward or 0.0)])."""
  remaining = Counter(reference_values(solution))
  total = sum(remaining.values())
  rewards, matched = [], 0
  for step in find_steps(completion):
    value = step_value(step)
    ok = value is not None and remaining[value] > 0 and (not require_correct or is_correct(step))
    if ok:
      remaining[value] -= 1
      matched += 1
    rewards.append((step.end, reward if ok else 0.0))
  return (matched / total if total else 0.0), rewards
