"""Values of scalar answer trees and their equality: exact rationals, random points, sympy.

Exact evaluation with Fractions. Free symbols get random positive rational values (a fixed
seed, so grading is reproducible); two rational functions that agree exactly at several random
points are equal with overwhelming probability (Schwartz-Zippel), and one disagreement proves
them different. Radicals, pi and functions fall back to complex floats compared with REL_TOL.
sympy is only the referee when floats agree but a value is inexact: it proves
1.41421356237 != sqrt(2) and cos(pi/3) == 1/2. It receives trees built here from checked nodes
(never text), with bounded size and exponents; if it cannot decide, the numeric verdict stands.
A decimal also stands for an exact constant (1/12, sqrt(2), 12 pi) that it states to at least
APPROX_MIN_DIGITS significant digits, correctly rounded to the last digit written
(`approximates`: 0.0833333 ~ 1/12, but not 0.083, nor the truncation 0.666666 of 2/3).
Every value is bounded: exact numbers past MAX_BITS, factorials past MAX_FACTORIAL and powers
whose result would be too large raise EvalError, and such an answer is simply not equal.
"""
from __future__ import annotations

import cmath
import itertools
import math
import random
import signal
import threading
from fractions import Fraction

MAX_BITS = 4096
MAX_FACTORIAL = 300
MAX_BINOM_N = 5000
REL_TOL = 1e-9
ABS_TOL = 1e-12
NUM_POINTS = 3
MAX_TRIES = 8
SYMPY_MAX_NODES = 80
SYMPY_MAX_EXPONENT = 64
APPROX_MIN_DIGITS = 6  # Significant digits a decimal needs to stand for an exact value.
_SEED = 20250124

_CMATH = {"sin": cmath.sin, "cos": cmath.cos, "tan": cmath.tan, "arcsin": cmath.asin,
          "arccos": cmath.acos, "arctan": cmath.atan, "sinh": cmath.sinh, "cosh": cmath.cosh,
          "tanh": cmath.tanh, "log": cmath.log, "ln": cmath.log, "exp": cmath.exp,
          "cot": lambda z: 1 / cmath.tan(z), "sec": lambda z: 1 / cmath.cos(z),
          "csc": lambda z: 1 / cmath.sin(z)}
# Names of sympy's functions (sympy itself is imported on first use: `_sympy`).
_SYMPY_FUNCS = {"sin": "sin", "cos": "cos", "tan": "tan", "cot": "cot", "sec": "sec",
                "csc": "csc", "arcsin": "asin", "arccos": "acos", "arctan": "atan",
                "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "log": "log", "ln": "log",
                "exp": "exp", "abs": "Abs"}
_SYMPY = []  # The module, once imported.


def _sympy():
  """sympy, imported on first use. Its import is ~1.5 s of CPU at every process start, and the
  grading of most runs (integer and rational answers) never reaches it. The first use may come
  inside a grading call's SIGALRM limit (`registry.call_reward`): the timer is paused for the
  import, so the one-time import is not charged to the completion being graded (a 1 s limit
  would otherwise fail it). The reward pool imports sympy in its fork server instead."""
  if not _SYMPY:
    main = threading.current_thread() is threading.main_thread()
    paused = signal.setitimer(signal.ITIMER_REAL, 0) if main else (0.0, 0.0)
    try:
      import sympy  # pylint: disable=g-import-not-at-top
    finally:
      if paused[0] > 0:
        signal.setitimer(signal.ITIMER_REAL, *paused)
    _SYMPY.append(sympy)
  return _SYMPY[0]


class EvalError(ArithmeticError):
  """A value that cannot be computed within bounds (or is not a number)."""


def _checked(v):
  if isinstance(v, Fraction):
    if v.numerator.bit_length() > MAX_BITS or v.denominator.bit_length() > MAX_BITS:
      raise EvalError("number too large")
    return v
  if not cmath.isfinite(v):
    raise EvalError("not finite")
  return v


def _iroot(v: int, n: int) -> int:
  """floor(v ** (1/n)) for v >= 0 by integer Newton steps."""
  if v < 2:
    return v
  x = 1 << -(-v.bit_length() // n)
  while True:
    y = ((n - 1) * x + v // x ** (n - 1)) // n
    if y >= x:
      return x
    x = y


def _exact_root(v: Fraction, n: int) -> Fraction | None:
  p, q = _iroot(v.numerator, n), _iroot(v.denominator, n)
  return Fraction(p, q) if p ** n == v.numerator and q ** n == v.denominator else None


def _int_pow(a: Fraction, e: int) -> Fraction:
  if a == 0 and e < 0:
    raise EvalError("zero to a negative power")
  if a in (0, 1, -1):  # Exact at any exponent (9^(9^9) is refused below, 1^(9^9) is not).
    return a ** (e % 2 if a == -1 else min(e, 1))
  if max(a.numerator.bit_length(), a.denominator.bit_length()) * abs(e) > MAX_BITS:
    raise EvalError("power too large")
  return a ** e


def _pow(a, b):
  if isinstance(a, float) or isinstance(b, float):
    raise EvalError("infinity in arithmetic")
  if isinstance(a, Fraction) and isinstance(b, Fraction):
    p, q = b.numerator, b.denominator
    if q == 1:
      return _int_pow(a, p)
    if q <= 64 and (a >= 0 or q % 2):
      root = _exact_root(abs(a), q)
      if root is not None:
        return _int_pow(root if a >= 0 else -root, p)
      if a < 0:  # Odd roots of negatives are real, as in school algebra.
        return _checked(complex(-((-float(a)) ** float(b)) if p % 2 else (-float(a)) ** float(b)))
  return _checked(complex(a) ** complex(b))


def _root(x, index):
  n = index if index is not None else Fraction(2)
  if not (isinstance(n, Fraction) and n.denominator == 1 and 2 <= n <= 64):
    raise EvalError("unsupported root index")
  return _pow(x, 1 / n)


def _arith(tag: str, a, b):
  if isinstance(a, float) or isinstance(b, float):
    raise EvalError("infinity in arithmetic")
  if tag == "add":
    return _checked(a + b)
  if tag == "mul":
    return _checked(a * b)
  if b == 0:
    raise EvalError("division by zero")
  return _checked(a / b)


def evaluate(node, env: dict[str, Fraction]):
  """Value of a scalar tree: a Fraction when exact, else a complex; +-inf as float."""
  tag = node[0]
  if tag == "num":
    return node[1]
  if tag == "sym":
    if node[1] not in env:
      raise EvalError(f"unbound symbol {node[1]}")
    return env[node[1]]
  if tag == "const":
    return {"pi": complex(math.pi), "e": complex(math.e), "i": 1j, "inf": math.inf}[node[1]]
  if tag in ("add", "mul", "div"):
    return _arith(tag, evaluate(node[1], env), evaluate(node[2], env))
  if tag == "neg":
    return -evaluate(node[1], env)
  if tag == "pow":
    return _pow(evaluate(node[1], env), evaluate(node[2], env))
  if tag == "sqrt":
    index = None if node[2] is None else evaluate(node[2], env)
    return _root(evaluate(node[1], env), index)
  if tag == "pct":
    return _arith("div", evaluate(node[1], env), Fraction(100))
  if tag == "func":
    v = evaluate(node[2], env)
    if isinstance(v, float):
      raise EvalError("infinity in a function")
    if node[1] == "abs":
      return abs(v) if isinstance(v, Fraction) else complex(abs(v))
    return _checked(complex(_CMATH[node[1]](complex(v))))
  if tag in ("fact", "binom"):
    args = [evaluate(c, env) for c in node[1:]]
    bound = MAX_FACTORIAL if tag == "fact" else MAX_BINOM_N
    if not all(isinstance(a, Fraction) and a.denominator == 1 and 0 <= a <= bound
               for a in args):
      raise EvalError(f"{tag} needs integers in [0, {bound}]")
    ints = [int(a) for a in args]
    return _checked(Fraction(math.factorial(ints[0]) if tag == "fact" else math.comb(*ints)))
  if tag == "base":
    return Fraction(base_value(node))
  raise EvalError(f"{tag} is not a scalar")


def base_value(node) -> int:
  digits, base = node[1], node[2]
  if not 2 <= base <= 36:
    raise EvalError("base out of range")
  try:
    return int(digits, base)
  except ValueError as e:
    raise EvalError(f"{digits} is not a base-{base} numeral") from e


def symbols(node, out: set[str]) -> set[str]:
  if isinstance(node, tuple):
    if node and node[0] == "sym":
      out.add(node[1])
    else:
      for child in node:
        symbols(child, out)
  return out


def _size(node) -> int:
  return 1 + sum(_size(c) for c in node if isinstance(c, tuple)) if isinstance(node, tuple) else 0


def close(a, b) -> bool:
  if isinstance(a, Fraction) and isinstance(b, Fraction):
    return a == b
  if isinstance(a, float) or isinstance(b, float):
    return a == b  # Only the infinities are floats; they match only themselves.
  a, b = complex(a), complex(b)
  return abs(a - b) <= REL_TOL * max(abs(a), abs(b)) + ABS_TOL


def points(names: set[str]):
  """Random positive rational assignments, the same sequence on every call."""
  rng = random.Random(_SEED)
  ordered = sorted(names)
  for _ in range(MAX_TRIES):
    yield {n: Fraction(rng.randint(1, 2000), rng.randint(1, 199)) for n in ordered}


def _decimal(node):
  """(value, unit of the last digit) of a bare decimal or its negation, else None."""
  sign = 1
  if node[0] == "neg":
    sign, node = -1, node[1]
  if node[0] == "num" and node[2]:
    return sign * node[1], node[2]
  return None


def _has_decimal(node) -> bool:
  if not isinstance(node, tuple) or not node:
    return False
  if node[0] == "num":
    return bool(node[2])
  return any(_has_decimal(c) for c in (node[1:] if isinstance(node[0], str) else node))


def approximates(x, y) -> bool:
  """True when one side is a decimal and the other an exact constant (no decimals, no
  symbols) that the decimal states correctly rounded, with >= APPROX_MIN_DIGITS digits."""
  dx = _decimal(x)
  approx, exact = (dx, y) if dx is not None else (_decimal(y), x)
  if approx is None:
    return False
  value, ulp = approx
  if value == 0 or abs(value) < ulp * 10 ** (APPROX_MIN_DIGITS - 1):
    return False  # Fewer than APPROX_MIN_DIGITS significant digits written.
  if _has_decimal(exact) or symbols(exact, set()):
    return False
  try:
    v = evaluate(exact, {})
  except (ArithmeticError, ValueError):
    return False
  if isinstance(v, Fraction):
    return abs(value - v) <= ulp / 2
  if isinstance(v, float) or abs(v.imag) > ABS_TOL:
    return False
  # Floats carry ~16 digits: a bound 2 ulps of the float wider than half a last digit.
  return abs(float(value) - v.real) <= float(ulp) / 2 + 4e-16 * abs(v.real)


def scalar_equal(x, y) -> bool:
  """Equality of two scalar expressions (constants or functions of free symbols)."""
  names = symbols(x, set()) | symbols(y, set())
  valid, inexact = 0, False
  for env in (points(names) if names else [{}]):
    try:
      vx, vy = evaluate(x, env), evaluate(y, env)
    except (ArithmeticError, ValueError):
      continue
    if not close(vx, vy):
      return False
    inexact |= isinstance(vx, complex) or isinstance(vy, complex)
    valid += 1
    if valid == (NUM_POINTS if names else 1):
      break
  if valid == 0:
    return False
  if inexact:
    verdict = _sympy_verdict(x, y)
    return True if verdict is None else verdict
  return True


def _to_sympy(node):
  sympy = _sympy()
  tag = node[0]
  if tag == "num":
    return sympy.Rational(node[1].numerator, node[1].denominator)
  if tag == "sym":
    return sympy.Symbol(node[1], positive=True)  # Matches the positive random points.
  if tag == "const":
    return {"pi": sympy.pi, "e": sympy.E, "i": sympy.I, "inf": sympy.oo}[node[1]]
  args = [_to_sympy(c) for c in node[1:] if isinstance(c, tuple)]
  if tag == "add":
    return args[0] + args[1]
  if tag == "mul":
    return args[0] * args[1]
  if tag == "div":
    return args[0] / args[1]
  if tag == "neg":
    return -args[0]
  if tag == "pow":
    if node[2][0] == "num" and abs(node[2][1]) > SYMPY_MAX_EXPONENT:
      raise EvalError("exponent too large for sympy")
    return args[0] ** args[1]
  if tag == "pct":
    return args[0] / 100
  if tag == "func":
    return getattr(sympy, _SYMPY_FUNCS[node[1]])(args[0])
  if tag == "sqrt":
    n = 2 if node[2] is None else args[1]
    return sympy.real_root(args[0], n) if n != 2 and n % 2 else sympy.root(args[0], n)
  if tag == "fact":
    return sympy.factorial(args[0])
  if tag == "binom":
    return sympy.binomial(args[0], args[1])
  if tag == "base":
    return sympy.Integer(base_value(node))
  raise EvalError(f"{tag} has no sympy form")


def _sympy_verdict(x, y) -> bool | None:
  """True/False when sympy can prove x == y or x != y, None when it cannot tell."""
  if _size(x) + _size(y) > SYMPY_MAX_NODES:
    return None
  sympy = _sympy()
  try:
    d = _to_sympy(x) - _to_sympy(y)
    if d == 0:
      return True
    # At the random points the difference is a constant, whose zeroness sympy decides with
    # exact algebra or adaptive precision; one proven non-zero value settles it.
    names = sorted(d.free_symbols, key=str)
    verdicts = []
    for env in itertools.islice(points({s.name for s in names}), NUM_POINTS):
      at = d.subs({s: sympy.Rational(env[s.name].numerator, env[s.name].denominator)
                   for s in names})
      verdicts.append(at.is_zero)
      if verdicts[-1] is False:
        # sympy's is_zero can answer False from a low-precision evaluation of a difference
        # that cancels (cos/sin - cot); a value that is tiny at 60 digits is not a proof.
        value = at.evalf(60)
        if value.is_Number and abs(value) < sympy.Float(10) ** -40:
          return None
        return False
    if all(verdicts):
      return True
    return True if sympy.simplify(d) == 0 else None
  except Exception:  # pylint: disable=broad-except
    # sympy is only the referee: any failure inside it leaves the numeric verdict standing.
    return None
