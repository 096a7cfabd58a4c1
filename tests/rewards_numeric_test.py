"""Tests for r1jax.rewards.numeric: bounded exact evaluation and scalar equality."""
import cmath
import math
from fractions import Fraction

import hypothesis
import pytest
from hypothesis import strategies as st

from r1jax.rewards import latex
from r1jax.rewards import numeric


def _value(text, env=None):
  return numeric.evaluate(latex.parse(text), env or {})


@pytest.mark.parametrize("text,value", [
    ("\\frac{1}{3} + \\frac{1}{6}", Fraction(1, 2)),
    ("2^{-2}", Fraction(1, 4)),
    ("\\sqrt{\\frac{9}{4}}", Fraction(3, 2)),
    ("(-8)^{1/3}", Fraction(-2)),
    ("(-8)^{2/3}", Fraction(4)),
    ("\\sqrt[4]{16}", Fraction(2)),
    ("1^{9^{9}}", Fraction(1)),
    ("(-1)^{9^{9}}", Fraction(-1)),
    ("10!", Fraction(3628800)),
    ("\\binom{10}{3}", Fraction(120)),
    ("12_3", Fraction(5)),
    ("50%", Fraction(1, 2)),
    ("0.125", Fraction(1, 8)),
])
def test_exact_values(text, value):
  assert _value(text) == value and isinstance(_value(text), Fraction)


@pytest.mark.parametrize("text,value", [
    ("\\sqrt{2}", math.sqrt(2)), ("\\pi", math.pi), ("e", math.e), ("\\sin(1)", math.sin(1)),
    ("\\sqrt{-4}", 2j), ("\\log_2 10", math.log2(10)), ("2^{0.5}", math.sqrt(2)),
])
def test_inexact_values(text, value):
  got = _value(text)
  assert isinstance(got, complex)
  assert cmath.isclose(got, value, rel_tol=1e-12)  # double precision, a few ulps of slack


@pytest.mark.parametrize("text", [
    "9^{9^{9^{9}}}", "2^{10000}", "1000!", "\\binom{5000}{2500}", "1/0", "0^{-1}", "\\log(0)",
    "e^{10^{10}}", "12_2", "\\infty + 1", "(1, 2)", "x",
])
def test_refused_values(text):
  with pytest.raises((numeric.EvalError, ArithmeticError, ValueError)):
    _value(text)


def test_symbols_use_environment():
  assert _value("x^2 + y", {"x": Fraction(1, 2), "y": Fraction(3)}) == Fraction(13, 4)


def test_points_are_deterministic_and_positive():
  a = list(numeric.points({"x", "y"}))
  assert a == list(numeric.points({"y", "x"}))
  assert all(v > 0 for env in a for v in env.values())


@pytest.mark.parametrize("x,y,equal", [
    ("(x+1)^2", "x^2+2x+1", True),
    ("(x+1)^2", "x^2+2x+2", False),
    ("\\frac{1}{x} + \\frac{1}{y}", "\\frac{x+y}{xy}", True),
    ("\\sqrt{8}", "2\\sqrt{2}", True),
    ("1.41421356237", "\\sqrt{2}", False),  # floats agree to 2e-12; sympy proves them different
    ("\\cos(\\pi/3)", "0.5", True),  # exact vs inexact: sympy proves them equal
    ("e^{x} e^{y}", "e^{x+y}", True),
    ("\\sqrt{2} x", "1.4142135623731 x", False),
])
def test_scalar_equal(x, y, equal):
  assert numeric.scalar_equal(latex.parse(x), latex.parse(y)) is equal


@hypothesis.settings(max_examples=200, deadline=None, derandomize=True)
@hypothesis.given(st.integers(-10**6, 10**6), st.integers(1, 10**4), st.integers(0, 12))
def test_approximates_against_exact_rounding(p, q, extra_digits):
  # Reference: the exact value p/q rounded half-even to a written number of decimals with the
  # decimal module, from exact integer arithmetic (no floats).
  import decimal  # pylint: disable=import-outside-toplevel
  exact = latex.parse(f"\\frac{{{p}}}{{{q}}}")
  value = Fraction(p, q)
  if value == 0:
    return
  lead = decimal.Decimal(abs(p)) / decimal.Decimal(q)  # Enough context for 28 digits.
  places = numeric.APPROX_MIN_DIGITS - lead.adjusted() - 1 + extra_digits
  quantum = decimal.Decimal(1).scaleb(-places)
  with decimal.localcontext() as ctx:
    ctx.prec = 80
    rounded = (decimal.Decimal(p) / decimal.Decimal(q)).quantize(quantum)
    text = f"{rounded:f}"
    off_by_one = f"{rounded + quantum:f}"
  if "." not in text or Fraction(text) == value:
    return  # Integers and exact decimals are not approximations.
  if abs(Fraction(text) - value) * 2 == Fraction(quantum):
    return  # A tie: both neighbours are correctly rounded.
  assert numeric.approximates(latex.parse(text), exact), text
  assert not numeric.approximates(latex.parse(off_by_one), exact), off_by_one
  with decimal.localcontext() as ctx:
    ctx.prec = 80
    short = f"{rounded.quantize(quantum.scaleb(extra_digits + 1)):f}"  # Too few digits.
  digits = short.replace("-", "").replace(".", "").lstrip("0")
  if "." in short and len(digits) < numeric.APPROX_MIN_DIGITS:
    assert not numeric.approximates(latex.parse(short), exact), short


_FRESH_PROCESS = r"""
import signal, sys, time
from r1jax.rewards import registry, numeric
assert "sympy" not in sys.modules, "sympy imported at start-up"
# An integer answer never needs the referee.
out, failed = registry.call_reward("math_accuracy", r"\boxed{42}", {"answer": "42"}, {}, 1.0)
assert (out.score, failed) == (1.0, False) and "sympy" not in sys.modules
# The first use may come inside a grading call's limit: the timer is stopped while sympy
# imports (over a second), so the import is not charged to the call, then it runs on.
import builtins
seen = []
real_import = builtins.__import__
def spy(name, *args, **kwargs):
  if name == "sympy" and not seen:
    seen.append(signal.getitimer(signal.ITIMER_REAL))
  return real_import(name, *args, **kwargs)
builtins.__import__ = spy
with registry._time_limit(100.0):
  numeric._sympy()
  left = signal.getitimer(signal.ITIMER_REAL)[0]
builtins.__import__ = real_import
assert seen == [(0.0, 0.0)], seen  # Stopped during the import.
assert 50 < left <= 100, left  # Running again afterwards.
# The limit is resumed, not cancelled, after the import.
numeric._SYMPY.clear()
try:
  with registry._time_limit(0.3):
    numeric._sympy()
    time.sleep(5)
  raise SystemExit("the limit did not resume")
except registry.GradingTimeout:
  pass
assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
# The referee works once loaded (a generous limit: sympy's first evaluations are slow).
out, failed = registry.call_reward("math_accuracy", r"\boxed{\frac{\sqrt{2}}{2}}",
                                   {"answer": r"\cos(\pi/4)"}, {}, 60.0)
assert (out.score, failed) == (1.0, False), (out, failed)
print("OK")
"""


def test_sympy_is_imported_on_first_use_outside_the_time_limit():
  """sympy (over a second to import) is loaded only when an inexact answer needs the referee;
  that first import, inside a grading call's SIGALRM limit, runs with the timer stopped (not
  charged to the call), and the limit resumes afterwards. In a fresh process."""
  import os, subprocess, sys  # pylint: disable=g-import-not-at-top,multiple-imports
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  out = subprocess.run([sys.executable, "-c", _FRESH_PROCESS], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, PYTHONPATH=repo))
  assert out.returncode == 0, out.stdout + out.stderr
  assert out.stdout.strip().endswith("OK"), out.stdout
