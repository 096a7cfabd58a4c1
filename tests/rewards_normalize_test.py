"""Tests for r1jax.rewards.normalize: answer clean-up before parsing."""
import pytest

from r1jax.rewards import normalize


@pytest.mark.parametrize("raw,clean", [
    ("$\\frac{1}{2}$", "\\frac{1}{2}"),
    ("\\boxed{5}", "5"),
    ("\\(x+1\\)", "x+1"),
    ("10,\\!080", "10080"),
    ("11,\\! 111,\\! 111,\\! 100", "11111111100"),
    ("1{,}000", "1000"),
    ("58,500", "58500"),
    ("1 000 000", "1000000"),
    ("1, 2", "1, 2"),
    ("\\$32,\\!348", "32348"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "( 3, \\frac{\\pi}{2} )"),
    ("\\left. x \\right|", "x |"),
    ("90^\\circ", "90"),
    ("90^{\\circ}", "90"),
    ("5.4 \\text{ cents}", "5.4"),
    ("15\\mbox{ cm}^2", "15"),
    ("\\frac{270}7\\text{ degrees}", "\\frac{270}7"),
    ("\\text{Evelyn}", "Evelyn"),
    ("\\text{(B)}", "(B)"),
    ("18 apples", "18"),
    ("3 ab", "3 ab"),
    ("2 \\pi", "2 \\pi"),
    ("x.", "x"),
    ("\\dfrac{1}{2}", "\\frac{1}{2}"),
    ("3 \\times 4 \\cdot 5 \\div 6", "3 * 4 * 5 / 6"),
    ("50\\%", "50%"),
    ("\u2212 3 \u00d7 \u03c0", "- 3 * \\pi"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"),
])
def test_normalize(raw, clean):
  assert normalize.normalize(raw) == clean


@pytest.mark.parametrize("a,b", [("\\text{(B)}", "b"), ("(B)", "B"), ("\\text{ East }", "east"),
                                 ("\\textbf{even}", "Even")])
def test_text_key_equal(a, b):
  assert normalize.text_key(a) == normalize.text_key(b)


def test_text_key_distinct():
  assert normalize.text_key("Evelyn") != normalize.text_key("Navin")
