"""The Countdown game: combine the given numbers with + - * / to reach the target.

Rules checked here: the answer (found by `math.extract_answer`: the <answer> block, else a
\\boxed{}, ...) is an arithmetic expression over integers using each given number exactly
once (a multiset: a number given twice may be used twice); no unary minus, no powers, no
concatenation of digits; exact rational arithmetic, so 7/2*2 = 7. An optional trailing
"= target" is ignored. Evaluation goes through `arithmetic.evaluate` (no eval); expressions
are capped at `arithmetic.MAX_CHARS` characters.
"""
from __future__ import annotations

from collections import Counter
from fractions import Fraction
from typing import Sequence

from r1jax.rewards import arithmetic
from r1jax.rewards import math as math_reward

_LATEX_OPS = (("\\times", "*"), ("\\cdot", "*"), ("\\div", "/"), ("\\left", ""), ("\\right", ""),
              ("$", ""))


def equation(completion: str) -> str | None:
  """The equation text of a completion, or None."""
  answer = math_reward.extract_answer(completion)
  if answer is None:
    return None
  for old, new in _LATEX_OPS:
    answer = answer.replace(old, new)
  return answer.split("=", 1)[0].strip()


def score(completion: str, numbers: Sequence[int], target: int,
          format_score: float = 0.0) -> float:
  """1.0 for a correct equation; `format_score` (default 0: a documented option) for a
  well-formed equation that uses each number exactly once but misses the target; else 0.0."""
  expr = equation(completion)
  if not expr:
    return 0.0
  try:
    value, used = arithmetic.evaluate(expr, allow_unary_minus=False)
  except (arithmetic.ArithmeticSyntaxError, ZeroDivisionError):
    return 0.0
  if any(u.denominator != 1 for u in used):
    return 0.0
  if Counter(int(u) for u in used) != Counter(int(n) for n in numbers):
    return 0.0
  return 1.0 if value == Fraction(int(target)) else float(format_score)
