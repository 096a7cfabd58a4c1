"""A safe evaluator for plain arithmetic text: numbers, + - * / ( ), exact Fractions.

Used for Countdown equations and for checking `a op b = c` steps; it never executes text.
Bounds: MAX_CHARS characters, MAX_DEPTH parentheses, numbers of at most MAX_NUMBER_DIGITS
digits (so every value stays small and every evaluation takes microseconds).
"""
from __future__ import annotations

import re
from fractions import Fraction

MAX_CHARS = 256
MAX_DEPTH = 32
MAX_NUMBER_DIGITS = 30

_TOKEN_RE = re.compile(r"\s*(?:(\d+(?:\.\d+)?|\.\d+)|(\*\*|[-+*/()\u00d7\u00f7\u00b7]))")
_OPS = {"\u00d7": "*", "\u00b7": "*", "\u00f7": "/"}


class ArithmeticSyntaxError(ValueError):
  """The text is not an arithmetic expression this evaluator accepts."""


def tokenize(text: str) -> list[tuple[str, str]]:
  """('num', digits) and ('op', symbol) tokens; '\u00d7' and '\u00b7' are *, '\u00f7' is /."""
  if len(text) > MAX_CHARS:
    raise ArithmeticSyntaxError(f"expression longer than {MAX_CHARS} characters")
  tokens, pos = [], 0
  text = text.rstrip()
  while pos < len(text):
    m = _TOKEN_RE.match(text, pos)
    if m is None:
      raise ArithmeticSyntaxError(f"unexpected {text[pos:pos + 10]!r}")
    pos = m.end()
    if m.group(1) is not None:
      if len(m.group(1)) > MAX_NUMBER_DIGITS:
        raise ArithmeticSyntaxError("number too long")
      tokens.append(("num", m.group(1)))
    elif m.group(2) == "**":
      raise ArithmeticSyntaxError("powers are not allowed")
    else:
      tokens.append(("op", _OPS.get(m.group(2), m.group(2))))
  return tokens


def evaluate(text: str, allow_unary_minus: bool = True) -> tuple[Fraction, list[Fraction]]:
  """(value, the numbers as written, in order). Raises ArithmeticSyntaxError or
  ZeroDivisionError. Countdown forbids unary minus (allow_unary_minus=False)."""
  tokens = tokenize(text)
  pos, numbers = 0, []

  def peek():
    return tokens[pos] if pos < len(tokens) else ("eof", "")

  def expr(depth):
    nonlocal pos
    value = term(depth)
    while peek() in (("op", "+"), ("op", "-")):
      op = peek()[1]
      pos += 1
      rhs = term(depth)
      value = value + rhs if op == "+" else value - rhs
    return value

  def term(depth):
    nonlocal pos
    value = factor(depth)
    while peek() in (("op", "*"), ("op", "/")):
      op = peek()[1]
      pos += 1
      rhs = factor(depth)
      value = value * rhs if op == "*" else value / rhs
    return value

  def factor(depth):
    nonlocal pos
    if depth > MAX_DEPTH:
      raise ArithmeticSyntaxError("too deeply nested")
    kind, tok = peek()
    pos += 1
    if kind == "num":
      numbers.append(Fraction(tok))
      return numbers[-1]
    if tok == "(":
      value = expr(depth + 1)
      if peek() != ("op", ")"):
        raise ArithmeticSyntaxError("unbalanced parentheses")
      pos += 1
      return value
    if tok == "-" and allow_unary_minus:
      return -factor(depth + 1)
    raise ArithmeticSyntaxError(f"unexpected {tok!r}")

  value = expr(0)
  if pos != len(tokens):
    raise ArithmeticSyntaxError(f"unexpected {peek()[1]!r}")
  return value, numbers
