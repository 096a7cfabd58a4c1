"""Tests for r1jax.rewards.arithmetic: the safe evaluator."""
from fractions import Fraction

import pytest

from r1jax.rewards import arithmetic


@pytest.mark.parametrize("text,value,numbers", [
    ("(3+5)*2-4", 12, [3, 5, 2, 4]),
    ("7/2*2", 7, [7, 2, 2]),
    ("1 - 2 - 3", -4, [1, 2, 3]),
    ("2 * (3 + 4) / 7", 2, [2, 3, 4, 7]),
    ("0.2 * 50", 10, [Fraction(1, 5), 50]),
    ("12 \u00d7 3 \u00f7 4", 9, [12, 3, 4]),
    ("-3 + 5", 2, [3, 5]),
    ("((((1))))", 1, [1]),
])
def test_evaluate(text, value, numbers):
  assert arithmetic.evaluate(text) == (Fraction(value), [Fraction(n) for n in numbers])


@pytest.mark.parametrize("text", [
    "", "1 +", "(1", "1)", "2**3", "x", "__import__('os')", "1 2", "3e5", "1" * 40,
    "(" * 40 + "1" + ")" * 40, "1+" * 200 + "1",
])
def test_syntax_errors(text):
  with pytest.raises(arithmetic.ArithmeticSyntaxError):
    arithmetic.evaluate(text)


def test_unary_minus_can_be_forbidden():
  with pytest.raises(arithmetic.ArithmeticSyntaxError):
    arithmetic.evaluate("-3+5", allow_unary_minus=False)


def test_division_by_zero():
  with pytest.raises(ZeroDivisionError):
    arithmetic.evaluate("1/(2-2)")
