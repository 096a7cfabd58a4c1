"""Tests for r1jax.rewards.equivalence: structural comparison of parsed answers."""
import pytest

from r1jax.rewards import equivalence
from r1jax.rewards import latex


def _eq(a, b):
  return equivalence.equivalent(latex.parse(a), latex.parse(b))


@pytest.mark.parametrize("a,b,equal", [
    ("(1,2]", "(1,2]", True), ("(1,2]", "(1,2)", False), ("[1,2]", "(1,2)", False),
    ("(1,2)", "1,2", True), ("[1,2]", "1,2", False), ("1,2", "2,1", True),
    ("(1,2)", "(2,1)", False), ("\\{1,2\\}", "\\{2,1\\}", True),
    ("\\{1,2\\}", "\\{1,2,2\\}", False),
    ("(0,1) \\cup (2,3)", "(2,3) \\cup (0,1)", True), ("(0,1) \\cup (2,3)", "(0,3)", False),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(1,2)", True),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "[1,2]", False),
    ("\\begin{pmatrix} 1 & 2 \\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", False),
    ("1 \\pm 2", "3, -1", True), ("\\pm 2", "2", False),
    ("x = 5", "5", True), ("5", "x = 5", True), ("x = 5", "y = 5", False),
    ("y = 2x + 1", "4x - 2y + 2 = 0", True), ("y = 2x + 1", "y = 2x", False),
    ("x + y = 0", "0", False), ("3 + 3 = 6", "6", True),
    ("50%", "0.5", True), ("50%", "50", True), ("50%", "5", False), ("50%", "50%", True),
    ("12_3", "5", False), ("12_3", "12_{3}", True), ("12_3", "11_4", True),
])
def test_equivalent(a, b, equal):
  assert _eq(a, b) is equal
  assert _eq(b, a) is equal  # every row here is symmetric


def test_large_collections_are_refused_not_slow():
  items = ", ".join(str(i) for i in range(equivalence.MAX_ITEMS + 1))
  assert not _eq(items, items[::-1].replace(" ,", ", "))


_BRACKET = {"<": ("(", ")"), "\\le": ("[", "]")}
_REVERSED = {"<": ">", "\\le": "\\ge"}


@pytest.mark.parametrize("lo_op", ["<", "\\le"])
@pytest.mark.parametrize("hi_op", ["<", "\\le"])
def test_inequality_chains_are_their_intervals(lo_op, hi_op):
  from r1jax.rewards import math as rm  # pylint: disable=import-outside-toplevel
  want = f"{_BRACKET[lo_op][0]}-2, \\frac{{7}}{{2}}{_BRACKET[hi_op][1]}"
  for text in (f"-2 {lo_op} x {hi_op} 3.5", f"3.5 {_REVERSED[hi_op]} x {_REVERSED[lo_op]} -2"):
    for opening in "([":
      for closing in ")]":
        other = f"{opening}-2, \\frac{{7}}{{2}}{closing}"
        assert rm.answers_match(text, other) is (other == want), (text, other)
    assert not rm.answers_match(text, want.replace("-2", "2"))
    assert rm.answers_match(text, text.replace("x", "t")) is False  # Another variable.


@pytest.mark.parametrize("op,interval", [
    ("<", "(-\\infty, 4)"), ("\\le", "(-\\infty, 4]"), (">", "(4, \\infty)"),
    ("\\ge", "[4, \\infty)"), ("<=", "(-\\infty, 4]"), (">=", "[4, \\infty)")])
def test_one_sided_inequalities(op, interval):
  from r1jax.rewards import math as rm  # pylint: disable=import-outside-toplevel
  assert rm.answers_match(f"x {op} 4", interval)
  flipped = {"<": ">", ">": "<", "\\le": "\\ge", "\\ge": "\\le", "<=": ">=", ">=": "<="}[op]
  assert rm.answers_match(f"4 {flipped} x", f"x {op} 4")
  assert not rm.answers_match(f"4 {op} x", f"x {op} 4")  # The other side of 4.
  for other in ("(-\\infty, 4)", "(-\\infty, 4]", "(4, \\infty)", "[4, \\infty)"):
    assert rm.answers_match(f"x {op} 4", other) is (other == interval), other
