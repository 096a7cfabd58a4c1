"""String clean-up of final answers before parsing: delimiters, spacing, units, text.

Answers arrive as LaTeX with or without `$`, or as plain text written by a model. `normalize`
rewrites the presentational parts away (`\\left`, `\\!`, `^\\circ`, `\\$`, `\\text{ cm}`, thousands
separators, `\\cfrac`, an array's column spec) so that `latex.parse` sees only mathematics, and
spells a few things one way: "28 percent"/"28 pct" -> 28%, "x = 1 \\text{ or } x = 2" -> a list,
"f(x) = ..." -> "f = ..." (a label that may be dropped like "x ="). `text_key` is the
comparison key for answers that are words ("\\text{Evelyn}", "(B)"). Every rewrite is a
bounded regex or a linear scan; callers cap the input length first (`math.MAX_ANSWER_CHARS`).
"""
from __future__ import annotations

import re

# Function and constant names that are mathematics, not unit words, when written bare.
MATH_WORDS = frozenset({
    "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh",
    "tanh", "log", "ln", "exp", "sqrt", "pi", "inf", "infty", "infinity", "frac", "dfrac",
    "cup", "pm", "mp"})

_UNICODE = {
    "\u2212": "-", "\u2013": "-", "\u00d7": "*", "\u00b7": "*", "\u22c5": "*", "\u00f7": "/",
    "\u03c0": "\\pi ", "\u221e": "\\infty ", "\u221a": "\\sqrt ", "\u00b1": "\\pm ",
    "\u222a": "\\cup ", "\u00b0": "", "\u2009": " ", "\u00a0": " ", "\u2264": "\\le ",
    "\u2265": "\\ge ", "\u2248": "\\approx ", "\u2208": "\\in "}
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))

_THOUSANDS_EXPLICIT_RE = re.compile(r"(\d)\s*(?:,\s*\\!|\{,\})\s*(?=\d{3}(?!\d))")
_SPACING_RE = re.compile(r"(?<!\\)\\[,;:! ]|\\q?quad\b|~|\\displaystyle|\\textstyle")
_SIZING_RE = re.compile(
    r"\\(?:left|right|[bB]igg?[lr]?)(?![a-zA-Z])\s*(\\?[()\[\]{}|.]|\\[lr]vert)?")
_DEGREES_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ\b|\\degree\b")
_TEXT_RE = re.compile(
    r"\\(?:text|textbf|textit|textrm|textnormal|mbox|mathrm|mathbf|mathit|mathsf|operatorname)"
    r"\s*\{([^{}]*)\}(\s*\^\s*\{?\s*[23]\s*\}?)?")
_SIMPLE_CMDS = (("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\cfrac", "\\frac"),
                ("\\geqslant", "\\ge"), ("\\leqslant", "\\le"), ("\\cdot", "*"), ("\\times", "*"),
                ("\\ast", "*"), ("\\div", "/"), ("\\%", "%"), ("\\lvert", "|"), ("\\rvert", "|"),
                ("\\vert", "|"), ("\\mid", "|"), ("\\ldots", ""), ("\\cdots", ""), ("\\dots", ""),
                ("\\neq", "\\ne"), ("\\leq", "\\le"), ("\\geq", "\\ge"))
_ARRAY_COLUMNS_RE = re.compile(r"(\\begin\s*\{array\})\s*\{[lcr|\s]*\}")
# "28 percent", "28 pct", "28\text{ per cent}" are 28%.
_PERCENT_TEXT_RE = re.compile(
    r"(\d)\s*\\(?:text|mbox|mathrm)\s*\{\s*(?:percent|per\s*cent|pct)\.?\s*\}")
_PERCENT_WORD_RE = re.compile(r"(\d)\s*(?:percent|per\s*cent|pct)\b\.?")
# "x = 1 \text{ or } x = 2", "-3 and 4": alternatives listed with words are a list.
_ALTERNATIVES_RE = re.compile(
    r"\s*\\(?:text|mbox|mathrm)\s*\{\s*(?:or|and)\s*\}\s*|(?<=[\w})])\s+(?:or|and)\s+(?=[-\w\\(])")
# "f(x) = x^2 + 1", "g(2) = 7": the function's name labels the answer like "x =" does.
_FUNCTION_LABEL_RE = re.compile(
    r"^([a-zA-Z])\s*\(\s*[a-zA-Z0-9.]+(?:\s*,\s*[a-zA-Z0-9.]+)*\s*\)\s*=(?=[^=]*$)")
_WORDS_ONLY_RE = re.compile(r"[A-Za-z][A-Za-z .'-]*")
_TRAILING_WORD_RE = re.compile(r"(?<=\s)([A-Za-z]{2,})\.?\s*(\^\s*\{?[23]\}?)?\s*$")
# Short unit words; longer bare words after a number are taken as units too.
_SHORT_UNITS = frozenset({"cm", "mm", "km", "kg", "mg", "ft", "in", "mi", "lb", "oz", "hr", "yd",
                          "ml"})
_WHOLE_THOUSANDS_RE = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_SPACE_THOUSANDS_RE = re.compile(r"-?\d{1,3}(?: \d{3})+(?:\.\d+)?")
_CHOICE_RE = re.compile(r"\(?([a-e])\)?")


def strip_delimiters(s: str) -> str:
  """Removes math-mode delimiters and a whole-answer \\boxed{} wrapper."""
  s = s.strip()
  s = s.replace("\\$", " ")  # A dollar sign is currency, never math mode.
  s = s.replace("$", "")
  for opening, closing in (("\\(", "\\)"), ("\\[", "\\]")):
    if s.startswith(opening) and s.endswith(closing):
      s = s[len(opening):-len(closing)]
  s = s.strip()
  for wrapper in ("\\boxed{", "\\fbox{"):
    if s.startswith(wrapper) and s.endswith("}") and _balanced(s[len(wrapper):-1]):
      s = s[len(wrapper):-1].strip()
  return s


def _balanced(s: str) -> bool:
  depth = 0
  for ch in s:
    depth += (ch == "{") - (ch == "}")
    if depth < 0:
      return False
  return depth == 0


def _drop_units(s: str) -> str:
  """Drops \\text{} words next to a number (units, "and"), keeps text that is the answer."""
  outside = _TEXT_RE.sub(" ", s)
  has_math = bool(re.search(r"[0-9]", outside))

  def repl(m: re.Match) -> str:
    content = m.group(1).strip()
    if (has_math and len(content) > 1 and _WORDS_ONLY_RE.fullmatch(content)
        and content.lower() not in MATH_WORDS):
      return " "
    return f" {content} {m.group(2) or ''}"

  s = _TEXT_RE.sub(repl, s)
  # Bare trailing words after a number ("18 apples", "5 cm^2"), at most a few of them.
  for _ in range(4):
    m = _TRAILING_WORD_RE.search(s)
    if not m:
      break
    word, head = m.group(1).lower(), s[:m.start()].rstrip()
    if word in MATH_WORDS or (len(word) < 3 and word not in _SHORT_UNITS):
      break
    if not head or head[-1] not in "0123456789})]" or not re.search(r"[0-9]", head):
      break
    s = head
  return s


def normalize(s: str) -> str:
  """Canonical text of an answer for `latex.parse` (and for the exact-string fast path)."""
  # Each rewrite runs only when its trigger text is present: most answers need few of them,
  # and this runs on every completion graded.
  if not s.isascii():
    s = _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], s)
  s = strip_delimiters(s)
  if "," in s:
    s = _THOUSANDS_EXPLICIT_RE.sub(r"\1", s)
  if "\\" in s:
    s = _SPACING_RE.sub(" ", s)
    s = _SIZING_RE.sub(lambda m: "" if m.group(1) in (None, ".", "\\.") else m.group(1), s)
    s = _DEGREES_RE.sub(" ", s)
    for old, new in _SIMPLE_CMDS:
      s = s.replace(old, new)
    s = _ARRAY_COLUMNS_RE.sub(r"\1", s)
  elif "~" in s:
    s = s.replace("~", " ")
  if "per" in s or "pct" in s:
    s = _PERCENT_TEXT_RE.sub(r"\1%", s)
    s = _PERCENT_WORD_RE.sub(r"\1%", s)
  if ("or" in s or "and" in s) and re.search(r"[0-9=]", s):
    s = _ALTERNATIVES_RE.sub(", ", s)
  if "=" in s and "(" in s:
    s = _FUNCTION_LABEL_RE.sub(r"\1 =", s)
  if re.search(r"[a-zA-Z]", s):
    s = _drop_units(s)
  s = " ".join(s.split())
  s = s.rstrip(".,;:").strip()
  if s.startswith("{") and s.endswith("}") and _balanced(s[1:-1]):
    s = s[1:-1].strip()
  if _WHOLE_THOUSANDS_RE.fullmatch(s) or _SPACE_THOUSANDS_RE.fullmatch(s):
    s = s.replace(",", "").replace(" ", "")
  return s


def text_key(s: str) -> str:
  """Comparison key for word answers: lower case, no spaces or braces; "(B)" -> "b"."""
  s = normalize(s).lower()
  s = re.sub(r"[\s{}]", "", s)
  m = _CHOICE_RE.fullmatch(s)
  return m.group(1) if m else s
