"""Tests for r1jax.rewards.latex: the tokenizer and the bounded parser."""
from fractions import Fraction

import pytest

from r1jax.rewards import latex


def _num(v, decimal=False):
  return ("num", Fraction(v), decimal)


@pytest.mark.parametrize("text,tree", [
    ("\\frac 34", ("div", _num(3), _num(4))),
    ("\\frac9{19}", ("div", _num(9), _num(19))),
    ("\\sqrt2", ("sqrt", _num(2), None)),
    ("\\sqrt[3]{8}", ("sqrt", _num(8), _num(3))),
    ("x^23", ("pow", ("sym", "x"), _num(23))),
    ("2^-1", ("pow", _num(2), ("neg", _num(1)))),
    ("-x^2", ("neg", ("pow", ("sym", "x"), _num(2)))),
    ("1\\frac{1}{2}", ("add", _num(1), ("div", _num(1), _num(2)))),
    ("2x", ("mul", _num(2), ("sym", "x"))),
    ("0.5", _num("0.5", Fraction(1, 10))),
    ("1e3", _num(1000, Fraction(1000))),
    ("e^{i\\pi}", ("pow", ("const", "e"), ("mul", ("const", "i"), ("const", "pi")))),
    ("204_5", ("base", "204", 5)),
    ("x_1", ("sym", "x_1")),
    ("5!", ("fact", _num(5))),
    ("50%", ("pct", _num(50))),
    ("|x|", ("func", "abs", ("sym", "x"))),
    ("\\sin^2 x", ("pow", ("func", "sin", ("sym", "x")), _num(2))),
    ("\\sin^{-1} x", ("func", "arcsin", ("sym", "x"))),
    ("\\log_2 8", ("div", ("func", "log", _num(8)), ("func", "log", _num(2)))),
    ("1 \\pm 2", ("pm", _num(1), _num(2))),
    ("x = 5", ("eq", (("sym", "x"), _num(5)))),
    ("x \\in [1, 2)", ("tuple", "[", ")", (_num(1), _num(2)))),
    ("(1)", _num(1)),
    ("\\{\\}", ("set", ())),
    ("1, 2", ("list", (_num(1), _num(2)))),
    ("(0,1) \\cup (2,3)", ("union", (("tuple", "(", ")", (_num(0), _num(1))),
                                     ("tuple", "(", ")", (_num(2), _num(3)))))),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
     ("matrix", ((_num(1), _num(2)), (_num(3), _num(4))))),
    ("\\theta", ("sym", "theta")),
    ("-\\infty", ("neg", ("const", "inf"))),
])
def test_parse(text, tree):
  assert latex.parse(text) == tree


@pytest.mark.parametrize("text", [
    "", "(", "1 +", "Evelyn", "x < ", "x \\ne 3", "x = 1 < 2", "2 3", "(1, 2", "(3]",
    "\\begin{vmatrix}1\\end{vmatrix}",
    "\\begin{pmatrix} 1 & 2 \\\\ 3 \\end{pmatrix}", "@", "1e99999", "9" * 700,
    "(" * 200 + "1" + ")" * 200, "-" * 300 + "1", "+".join(["1"] * 300),
])
def test_parse_errors(text):
  with pytest.raises(latex.ParseError):
    latex.parse(text)


def test_tokenize_words_and_commands():
  assert latex.tokenize("sqrt(2) pi xy Evelyn") == [
      ("cmd", "sqrt"), ("(", "("), ("num", "2"), (")", ")"), ("cmd", "pi"), ("sym", "x"),
      ("sym", "y"), ("word", "Evelyn")]
