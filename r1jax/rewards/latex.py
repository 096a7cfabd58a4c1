"""A small, bounded parser from answer LaTeX (or plain math text) to a tuple tree.

Nothing here executes the input: a regex tokenizer and a recursive-descent parser build plain
tuples, which `equivalence` evaluates with exact rationals. The tree (first item is the tag):
  ('num', Fraction, is_decimal)   ('sym', name)   ('const', 'pi' | 'e' | 'i' | 'inf')
  ('add', a, b)  ('mul', a, b)  ('div', a, b)  ('pow', a, b)  ('neg', a)
  ('pm', a | None, b)  a +- b, expanded into two answers by `equivalence`
  ('func', name, arg)  ('sqrt', arg, index)  ('fact', a)  ('binom', n, k)  ('pct', a)
  ('base', digits, base)  e.g. 204_5
  ('tuple', open, close, items)  (1,2), [0,1), (-inf, 3]   ('set', items)  ('list', items)
  ('union', items)  ('eq', parts)  x = 5, a chain a = b = c   ('matrix', rows)
  ('ineq', parts, ops)  a chain of <, <=, >, >= (ops one shorter than parts), e.g. -2 <= x < 7
A decimal's third item is the unit of its last written digit (0.250 -> 1/1000, 1.5e3 -> 100),
which `numeric.approximates` reads; integers carry False.
LaTeX conventions: \\frac 34 takes single digits; a bare multi-digit exponent x^23 means x^{23}
(a plain-text habit; LaTeX writers brace it); an integer before \\frac{p}{q} is a mixed number.
Bounds: at most MAX_TOKENS tokens and MAX_DEPTH nesting, numbers of at most MAX_DIGITS digits.
"""
from __future__ import annotations

import re
from fractions import Fraction

MAX_TOKENS = 400
MAX_DEPTH = 100
MAX_DIGITS = 600

FUNCTIONS = frozenset({"sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan",
                       "sinh", "cosh", "tanh", "log", "ln", "exp"})
_INVERSE = {"sin": "arcsin", "cos": "arccos", "tan": "arctan"}
_CONSTANTS = {"pi": "pi", "infty": "inf", "inf": "inf", "infinity": "inf"}
_MATRIX_ENVS = frozenset({"pmatrix", "bmatrix", "Bmatrix", "matrix", "smallmatrix", "array"})
# Inequality tokens and commands, by the relation they state.
_INEQUALITIES = {"<": "<", ">": ">", "<=": "<=", ">=": ">=", "lt": "<", "gt": ">", "le": "<=",
                 "ge": ">="}
# Commands that are structure or relations, never an implicit factor.
_STRUCTURAL = frozenset({"pm", "mp", "cup", "in", "approx", "le", "ge", "ne", "lt", "gt", "end",
                         "cap", "to", "implies", "quad"})

_TOKEN_RE = re.compile(r"""
   (?P<ws>\s+)
  |(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  |(?P<env>\\(?:begin|end)\s*\{[a-zA-Z*]+\})
  |(?P<cmd>\\[a-zA-Z]+)
  |(?P<esc>\\[{}\\|])
  |(?P<word>[a-zA-Z]+)
  |(?P<punct><=|>=|[-+*/^_!%=,&|()\[\]{}<>;:'])
""", re.X)


class ParseError(ValueError):
  """The text is not mathematics this parser understands (or exceeds its bounds)."""


def tokenize(s: str) -> list[tuple[str, str]]:
  """(kind, text) tokens; kinds: num, sym, cmd, word, begin, end, or the punctuation itself."""
  out: list[tuple[str, str]] = []
  pos = 0
  while pos < len(s):
    m = _TOKEN_RE.match(s, pos)
    if m is None:
      raise ParseError(f"unexpected character {s[pos]!r} at {pos}")
    pos = m.end()
    kind, text = m.lastgroup, m.group()
    if kind == "ws":
      continue
    if kind == "num":
      out.append(("num", text))
    elif kind == "env":
      out.append((text[1:text.index("{")].strip(), text[text.index("{") + 1:-1]))
    elif kind == "cmd":
      out.append(("cmd", text[1:]))
    elif kind == "esc":
      out.append((text, text))
    elif kind == "word":
      low = text.lower()
      if low in FUNCTIONS or low in _CONSTANTS or low == "sqrt":
        out.append(("cmd", low))
      elif len(text) >= 3:
        out.append(("word", text))
      else:
        out.extend(("sym", ch) for ch in text)
    else:
      out.append((text, text))
    if len(out) > MAX_TOKENS:
      raise ParseError(f"more than {MAX_TOKENS} tokens")
  return out


def _number(text: str) -> tuple:
  mantissa, _, exponent = text.lower().partition("e")
  digits = len(mantissa.replace(".", ""))
  if digits > MAX_DIGITS or (exponent and abs(int(exponent)) > MAX_DIGITS):
    raise ParseError(f"number {text[:20]}... too long")
  if "." not in text and not exponent:
    return ("num", Fraction(text), False)
  decimals = len(mantissa.partition(".")[2])
  ulp = Fraction(10) ** (int(exponent or 0) - decimals)
  return ("num", Fraction(text.rstrip(".")), ulp)


def _is_int(node) -> bool:
  return node[0] == "num" and not node[2] and node[1].denominator == 1


class _Parser:
  """Recursive descent over the token list; `depth` bounds recursion on hostile input."""

  def __init__(self, tokens):
    self.toks = tokens
    self.pos = 0
    self.depth = 0

  def peek(self):
    return self.toks[self.pos] if self.pos < len(self.toks) else ("eof", "")

  def take(self):
    tok = self.peek()
    self.pos += 1
    return tok

  def accept(self, kind: str, text: str | None = None) -> bool:
    k, t = self.peek()
    if k == kind and (text is None or t == text):
      self.pos += 1
      return True
    return False

  def expect(self, kind: str):
    if not self.accept(kind):
      raise ParseError(f"expected {kind!r}, got {self.peek()[1]!r}")

  def enter(self):
    self.depth += 1
    if self.depth > MAX_DEPTH:
      raise ParseError(f"nesting deeper than {MAX_DEPTH}")

  # Grammar, loosest first: list (,) > union (\cup) > relation (=) > sum > product > factor.
  def parse(self):
    node = self.items()
    if self.peek()[0] != "eof":
      raise ParseError(f"unexpected {self.peek()[1]!r}")
    return node

  def items(self):
    parts = [self.union()]
    while self.accept(","):
      parts.append(self.union())
    return parts[0] if len(parts) == 1 else ("list", tuple(parts))

  def union(self):
    parts = [self.relation()]
    while self.accept("cmd", "cup"):
      parts.append(self.relation())
    return parts[0] if len(parts) == 1 else ("union", tuple(parts))

  def relation(self):
    parts, ops = [self.sum()], []
    while True:
      kind, text = self.peek()
      if self.accept("=") or self.accept("cmd", "approx"):
        ops.append("=")
      elif kind in ("<", ">", "<=", ">=") or (kind == "cmd" and text in _INEQUALITIES):
        self.take()
        ops.append(_INEQUALITIES[text])
      elif (kind, text) == ("cmd", "in") and len(parts) == 1 and parts[0][0] == "sym":
        self.take()  # "x \in [a, b]": the set is the answer.
        parts = [self.sum()]
        continue
      elif (kind, text) == ("cmd", "ne"):
        raise ParseError("'not equal' is not compared")
      else:
        break
      parts.append(self.sum())
    if not ops:
      return parts[0]
    if all(op == "=" for op in ops):
      return ("eq", tuple(parts))
    if "=" in ops:
      raise ParseError("equations mixed with inequalities")
    return ("ineq", tuple(parts), tuple(ops))

  def sum(self):
    node = self.term()
    while True:
      if self.accept("+"):
        node = ("add", node, self.term())
      elif self.accept("-"):
        node = ("add", node, ("neg", self.term()))
      elif self.accept("cmd", "pm"):
        node = ("pm", node, self.term())
      elif self.accept("cmd", "mp"):
        node = ("pm", node, ("neg", self.term()))
      else:
        return node

  def term(self):
    node = self.factor()
    while True:
      if self.accept("*"):
        node = ("mul", node, self.factor())
      elif self.accept("/"):
        node = ("div", node, self.factor())
      elif self.starts_atom():
        if self.peek()[0] == "num" and _ends_in_number(node):
          raise ParseError("two numbers side by side")
        mixed = self.peek() == ("cmd", "frac") and (
            _is_int(node) or (node[0] == "neg" and _is_int(node[1])))
        nxt = self.power()
        if mixed and nxt[0] == "div" and _is_int(nxt[1]) and _is_int(nxt[2]):
          node = (("neg", ("add", node[1], nxt)) if node[0] == "neg" else ("add", node, nxt))
        else:
          node = ("mul", node, nxt)
      else:
        return node

  def starts_atom(self) -> bool:
    kind, text = self.peek()
    if kind in ("num", "sym", "(", "{", "begin"):
      return True
    return kind == "cmd" and text not in _STRUCTURAL

  def factor(self):
    self.enter()
    if self.accept("-"):
      node = ("neg", self.factor())
    elif self.accept("+"):
      node = self.factor()
    elif self.accept("cmd", "pm"):
      node = ("pm", None, self.factor())
    else:
      node = self.power()
    self.depth -= 1
    return node

  def power(self):
    node = self.postfix()
    if self.accept("^"):
      node = ("pow", node, self.factor())
    return node

  def postfix(self):
    node = self.atom()
    while True:
      if self.accept("!"):
        node = ("fact", node)
      elif self.accept("%"):
        node = ("pct", node)
      elif self.accept("_"):
        sub = self.arg()
        if _is_int(node) and _is_int(sub):
          node = ("base", str(node[1].numerator), int(sub[1]))
        elif node[0] == "sym" and sub[0] in ("num", "sym"):
          node = ("sym", f"{node[1]}_{sub[1]}")
        else:
          raise ParseError("unsupported subscript")
      else:
        return node

  def arg(self):
    """One macro argument: a {group}, a single digit, a letter or a command atom."""
    kind, text = self.peek()
    if kind == "num" and len(text) > 1 and text[0].isdigit():
      self.toks[self.pos] = ("num", text[1:])
      return _number(text[0])
    if kind in ("{", "num", "sym", "cmd", "("):
      return self.atom()
    raise ParseError(f"missing argument at {text!r}")

  def atom(self):
    self.enter()
    kind, text = self.take()
    if kind == "num":
      node = _number(text)
    elif kind == "sym":
      node = ("const", text) if text in ("e", "i") else ("sym", text)
    elif kind in ("(", "["):
      node = self.delimited(kind)
    elif kind == "{":
      node = self.items()
      self.expect("}")
    elif kind == "\\{":
      node = ("set", ()) if self.accept("\\}") else ("set", _flat_list(self.items()))
      if node[1]:
        self.expect("\\}")
    elif kind == "|":
      node = ("func", "abs", self.sum())
      self.expect("|")
    elif kind == "begin" and text in _MATRIX_ENVS:
      node = self.matrix(text)
    elif kind == "cmd":
      node = self.command(text)
    elif kind == "word":
      raise ParseError(f"word {text!r}")
    else:
      raise ParseError(f"unexpected {text!r}")
    self.depth -= 1
    return node

  def delimited(self, opening: str):
    inner = self.items()
    closing = self.take()[0]
    if closing not in (")", "]"):
      raise ParseError(f"unclosed {opening!r}")
    items = _flat_list(inner)
    if len(items) == 1:
      if (opening, closing) not in (("(", ")"), ("[", "]")):
        raise ParseError("half-open bracket around one item")
      return inner
    return ("tuple", opening, closing, items)

  def matrix(self, env: str):
    rows, row = [], [self.union()]
    while True:
      if self.accept("&"):
        row.append(self.union())
      elif self.accept("\\\\"):
        rows.append(tuple(row))
        if self.peek() == ("end", env):
          row = []
        else:
          row = [self.union()]
      elif self.accept("end", env):
        if row:
          rows.append(tuple(row))
        break
      else:
        raise ParseError(f"bad token {self.peek()[1]!r} in {env}")
    if len({len(r) for r in rows}) != 1:
      raise ParseError("ragged matrix")
    return ("matrix", tuple(rows))

  def command(self, name: str):
    if name == "frac":
      return ("div", self.arg(), self.arg())
    if name == "binom":
      return ("binom", self.arg(), self.arg())
    if name == "sqrt":
      index = None
      if self.accept("["):
        index = self.sum()
        self.expect("]")
      return ("sqrt", self.arg(), index)
    if name in FUNCTIONS:
      return self.function(name)
    if name in _CONSTANTS:
      return ("const", _CONSTANTS[name])
    if name in ("emptyset", "varnothing"):
      return ("set", ())
    if name in _STRUCTURAL:
      raise ParseError(f"unexpected \\{name}")
    return ("sym", name)  # Greek letters and other named symbols.

  def function(self, name: str):
    exponent = base = None
    if name == "log" and self.accept("_"):
      base = self.arg()
    if self.accept("^"):
      exponent = self.factor()
    if exponent == ("neg", ("num", Fraction(1), False)) and name in _INVERSE:
      name, exponent = _INVERSE[name], None
    if self.peek()[0] in ("(", "{"):
      arg = self.atom()
    else:
      arg = self.power()
      while self.starts_atom() and self.peek()[0] != "cmd":
        arg = ("mul", arg, self.power())
    node = ("func", name, arg)
    if base is not None:
      node = ("div", node, ("func", "log", base))  # log_b x = log x / log b.
    return node if exponent is None else ("pow", node, exponent)


def _flat_list(node) -> tuple:
  return node[1] if node[0] == "list" else (node,)


def _ends_in_number(node) -> bool:
  while node[0] in ("mul", "add", "neg", "pct", "fact", "pow"):
    node = node[-1]
  return node[0] == "num"


def parse(s: str):
  """Parses normalized answer text to a tuple tree; raises ParseError on anything else."""
  if not s:
    raise ParseError("empty answer")
  return _Parser(tokenize(s)).parse()
