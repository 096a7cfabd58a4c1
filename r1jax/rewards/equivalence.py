"""Mathematical equivalence of two parsed answers (trees from `latex.parse`).

Structure first: tuples and intervals compare in order with their brackets; bare lists, sets
and unions compare as multisets; matrices by shape and entries (a column vector also matches
a tuple); x = 5 matches 5 (a bare symbol on one side may be dropped); two equations match when
proportional (y = 2x + 3 ~ 2x - y + 3 = 0); 50% matches 50 and 0.5; a +- b stands for both
values. An inequality in one variable stands for its interval: x >= 5 ~ 5 <= x ~ [5, oo),
-2 <= x < 7 ~ [-2, 7), with the variable compared when both sides are inequalities; the ends'
brackets must agree. Scalars then go to `numeric` (exact, then `numeric.approximates` for a
decimal against an exact value: correctly rounded, at least APPROX_MIN_DIGITS digits).
"""
from __future__ import annotations

import itertools
from fractions import Fraction

from r1jax.rewards import numeric

MAX_ITEMS = 32
MAX_PM = 3

_HUNDRED = ("num", Fraction(100), False)
_COLLECTIONS = ("tuple", "list", "set", "union", "matrix")


def _variants(node) -> list:
  """All +- choices of a scalar tree (a +- b -> a + b, a - b)."""
  if not isinstance(node, tuple) or not node:
    return [node]
  if node[0] == "pm":
    out = []
    for a, b in itertools.product(_variants(node[1]), _variants(node[2])):
      out += [b, ("neg", b)] if a is None else [("add", a, b), ("add", a, ("neg", b))]
    return out
  return [tuple(c) for c in itertools.product(*(_variants(c) for c in node))]


def _count_pm(node) -> int:
  if not isinstance(node, tuple):
    return 0
  return (bool(node) and node[0] == "pm") + sum(_count_pm(c) for c in node)


def _expand_pm(node):
  """A scalar with +- becomes a bare list of its values; list and set items are flattened."""
  if node[0] in ("list", "set"):
    items = []
    for item in node[1]:
      item = _expand_pm(item)
      items.extend(item[1] if item[0] == "list" else (item,))
    return (node[0], tuple(items))
  if node[0] in _COLLECTIONS or node[0] in ("eq", "ineq"):
    return node
  n = _count_pm(node)
  if n == 0 or n > MAX_PM:
    return node
  return ("list", tuple(_variants(node)))


def _ordered(xs, ys) -> bool:
  return len(xs) == len(ys) and all(equivalent(a, b) for a, b in zip(xs, ys))


def _multiset(xs, ys) -> bool:
  if len(xs) != len(ys) or len(xs) > MAX_ITEMS:
    return False
  unused = list(ys)
  for a in xs:
    for j, b in enumerate(unused):
      if equivalent(a, b):
        del unused[j]
        break
    else:
      return False
  return True


def _vector(node):
  """Entries of a one-row or one-column matrix, else None."""
  rows = node[1]
  if len(rows) == 1:
    return rows[0]
  return tuple(r[0] for r in rows) if all(len(r) == 1 for r in rows) else None


def _collections_equivalent(x, y) -> bool:
  kinds = {x[0], y[0]}
  if kinds <= {"list", "set"} or kinds == {"union"}:
    return _multiset(x[1], y[1])
  if kinds == {"tuple"}:
    return x[1:3] == y[1:3] and _ordered(x[3], y[3])
  if kinds == {"matrix"}:
    return ([len(r) for r in x[1]] == [len(r) for r in y[1]]
            and _ordered(sum(x[1], ()), sum(y[1], ())))
  seqs = []
  for node in (x, y):
    if node[0] == "tuple" and node[1:3] == ("(", ")"):
      seqs.append(node[3])  # A bare list may stand for a parenthesised tuple.
    elif node[0] == "list":
      seqs.append(node[1])
    elif node[0] == "matrix" and _vector(node) is not None:
      seqs.append(_vector(node))
    else:
      return False
  return _ordered(*seqs)


def _solved_for(eq):
  """(name, value) when a two-sided equation has a bare symbol on one side."""
  if len(eq[1]) != 2:
    return None
  lhs, rhs = eq[1]
  if lhs[0] == "sym":
    return lhs[1], rhs
  if rhs[0] == "sym":
    return rhs[1], lhs
  return None


def _proportional(x, y) -> bool:
  """Two equations f = g and u = v are equivalent when f - g = c (u - v), c != 0."""
  fx = ("add", x[1][0], ("neg", x[1][1]))
  fy = ("add", y[1][0], ("neg", y[1][1]))
  names = numeric.symbols(fx, set()) | numeric.symbols(fy, set())
  if not names:
    return _ordered(x[1], y[1])
  ratio, valid = None, 0
  for env in numeric.points(names):
    try:
      vx, vy = numeric.evaluate(fx, env), numeric.evaluate(fy, env)
      r = vx / vy if vy != 0 else (None if vx == 0 else float("inf"))
    except (ArithmeticError, ValueError):
      continue
    if r is not None:
      if r == 0 or r == float("inf") or (ratio is not None and not numeric.close(r, ratio)):
        return False
      ratio = r
    valid += 1
    if valid == numeric.NUM_POINTS:
      return ratio is not None
  return False


def _equations_equivalent(x, y) -> bool:
  if x[0] == "eq" and y[0] == "eq":
    if len(x[1]) == len(y[1]) == 2:
      sx, sy = _solved_for(x), _solved_for(y)
      if sx and sy:
        return sx[0] == sy[0] and equivalent(sx[1], sy[1])
      return _proportional(x, y)
    return _ordered(x[1], y[1])
  eq, other = (x, y) if x[0] == "eq" else (y, x)
  solved = _solved_for(eq)
  if solved:
    return equivalent(solved[1], other)  # x = 5 against 5.
  if not numeric.symbols(eq, set()):
    return equivalent(eq[1][-1], other)  # A worked chain 12/2 = 6 ends in its value.
  return False


_INF = ("const", "inf")
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _interval(ineq):
  """(variable, ('tuple', open, close, (lo, hi))) for an inequality in one bare symbol whose
  bounds are constants (x > 5, 5 <= x, -2 <= x < 7), else None."""
  parts, ops = ineq[1], ineq[2]
  if len(parts) == 2:
    if parts[0][0] == "sym" and not numeric.symbols(parts[1], set()):
      var, op, bound = parts[0][1], ops[0], parts[1]
    elif parts[1][0] == "sym" and not numeric.symbols(parts[0], set()):
      var, op, bound = parts[1][1], _FLIP[ops[0]], parts[0]
    else:
      return None
    if op in ("<", "<="):
      return var, ("tuple", "(", ")" if op == "<" else "]", (("neg", _INF), bound))
    return var, ("tuple", "(" if op == ">" else "[", ")", (bound, _INF))
  if len(parts) == 3 and parts[1][0] == "sym" and not (
      numeric.symbols(parts[0], set()) or numeric.symbols(parts[2], set())):
    if ops[0][0] != ops[1][0]:
      return None  # 1 < x > 3 is no interval.
    lo, hi, (op_lo, op_hi) = parts[0], parts[2], ops
    if ops[0][0] == ">":
      lo, hi, op_lo, op_hi = hi, lo, _FLIP[ops[1]], _FLIP[ops[0]]
    return parts[1][1], ("tuple", "(" if op_lo == "<" else "[", ")" if op_hi == "<" else "]",
                         (lo, hi))
  return None


def _inequalities_equivalent(x, y) -> bool:
  ix = _interval(x) if x[0] == "ineq" else (None, x)
  iy = _interval(y) if y[0] == "ineq" else (None, y)
  if ix is None or iy is None:
    return x == y
  if ix[0] and iy[0] and ix[0] != iy[0]:
    return False  # y >= 5 is not x >= 5.
  a, b = ix[1], iy[1]
  return (a[0] == b[0] == "tuple" and len(a[3]) == len(b[3]) == 2
          and _collections_equivalent(a, b))


def equivalent(x, y) -> bool:
  """True when the two answer trees denote the same mathematical object."""
  x, y = _expand_pm(x), _expand_pm(y)
  kinds = {x[0], y[0]}
  if "eq" in kinds:
    return _equations_equivalent(x, y)
  if "ineq" in kinds:
    return _inequalities_equivalent(x, y)
  if "pct" in kinds:
    if x[0] == y[0]:
      return equivalent(x[1], y[1])
    p, other = (x, y) if x[0] == "pct" else (y, x)
    return equivalent(p[1], other) or equivalent(("div", p[1], _HUNDRED), other)
  if kinds & set(_COLLECTIONS):
    return _collections_equivalent(x, y)
  if "base" in kinds:
    try:
      return x[0] == y[0] and numeric.base_value(x) == numeric.base_value(y)
    except numeric.EvalError:
      return False
  return numeric.approximates(x, y) or numeric.scalar_equal(x, y)
