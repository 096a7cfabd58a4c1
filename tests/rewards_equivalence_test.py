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
