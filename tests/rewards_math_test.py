"""Tests for r1jax.rewards.math: extraction, equivalence table, real data, hostile input."""
import json
import re
import time

import hypothesis
import pytest
from hypothesis import strategies as st

from r1jax.rewards import math as rm

# (model answer, gold answer, equivalent?) by category; every row was checked by hand.
CASES = {
    "integers": [
        ("72", "72", True), ("072", "72", True), ("72.0", "72", True), ("72.00", "72", True),
        ("1,080", "1080", True), ("1080", "1,080", True), ("10,\\!080", "10080", True),
        ("11,\\! 111,\\! 111,\\! 100", "11111111100", True), ("1{,}000", "1000", True),
        ("1 000 000", "1000000", True), ("-5", "-5", True), ("- 5", "-5", True),
        ("+5", "5", True), ("\\$32,\\!348", "32348", True), ("\\$18.90", "18.9", True),
        ("$18.90$", "18.90", True), ("73", "72", False), ("-72", "72", False),
        ("1,08", "108", False), ("7 2", "72", False), ("1,000", "1", False), ("720", "72", False),
    ],
    "decimals": [
        ("0.5", "\\frac{1}{2}", True), (".5", "0.5", True), ("0.50", "\\frac12", True),
        (".0000672", "6.72\\times 10^{-5}", True), ("0.333", "\\frac{1}{3}", False),
        # A decimal with >= 6 significant digits, correctly rounded, stands for the exact value.
        ("0.3333333333", "\\frac13", True), ("0.333333", "\\frac13", True),
        ("0.33333", "\\frac13", False), ("0.333334", "\\frac13", False), ("3.14", "\\pi", False),
        ("1.25", "\\frac{5}{4}", True), ("326.5", "\\frac{653}{2}", True),
        ("0.15", "0.150", True), ("0.15", "0.16", False), ("2.0", "2", True),
        ("1.4142135623730951", "\\sqrt{2}", True),
        ("1.4142135623730950", "\\sqrt{2}", True), ("1.4142135", "\\sqrt{2}", False),
        ("27", "27.0", True),
    ],
    "fractions": [
        ("\\frac{1}{2}", "\\frac12", True), ("\\dfrac{1}{2}", "\\frac{1}{2}", True),
        ("\\tfrac{2}{4}", "\\frac12", True), ("1/2", "\\frac{1}{2}", True),
        ("2/4", "\\frac12", True), ("\\frac 34", "\\frac{3}{4}", True),
        ("\\frac9{19}", "\\frac{9}{19}", True), ("\\frac{270}7", "\\frac{270}{7}", True),
        ("-\\frac{3}{8}", "\\frac{-3}{8}", True), ("\\frac{-3}{8}", "\\frac{3}{-8}", True),
        ("-\\frac{3}{8}", "\\frac{3}{8}", False), ("\\frac{14}{3}", "\\frac{3}{14}", False),
        ("\\frac{1}{2}", "\\frac{1}{3}", False), ("\\frac{\\frac{1}{2}}{2}", "\\frac14", True),
        ("(1/2)/2", "1/4", True), ("1/2/2", "\\frac{1}{4}", True), ("\\frac{1}{2}", "12", False),
    ],
    "mixed_numbers": [
        ("1\\frac{4}{5}", "\\frac{9}{5}", True), ("137 \\frac{1}{2}", "137.5", True),
        ("-1\\frac{1}{2}", "-\\frac{3}{2}", True), ("2\\frac{1}{2}", "1", False),
        ("1\\frac{4}{5}", "\\frac{4}{5}", False), ("3\\frac{1}{2}", "3.5", True),
    ],
    "radicals": [
        ("2\\sqrt{5}", "\\sqrt{20}", True), ("\\sqrt{20}", "2 \\sqrt{5}", True),
        ("11\\sqrt2", "11\\sqrt{2}", True), ("\\sqrt{242}", "11\\sqrt2", True),
        ("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}", True),
        ("\\sqrt{3}/3", "\\frac{\\sqrt3}{3}", True), ("\\sqrt[3]{8}", "2", True),
        ("\\sqrt[3]{-8}", "-2", True), ("8^{1/3}", "2", True),
        ("\\sqrt{2}+\\sqrt{3}", "\\sqrt{5+2\\sqrt{6}}", True), ("\\sqrt{5}", "\\sqrt{6}", False),
        ("2\\sqrt{5}", "5\\sqrt{2}", False), ("\\sqrt{4}", "2", True), ("\\sqrt{2}", "2", False),
        ("sqrt(8)", "2\\sqrt{2}", True), ("\\sqrt{2}^2", "2", True),
        ("3\\sqrt{13}", "\\sqrt{117}", True), ("1+2\\sqrt{3}", "2\\sqrt{3}+1", True),
        ("1+2\\sqrt{3}", "1+3\\sqrt{2}", False),
        ("\\frac{3\\sqrt{3}}{4}", "\\frac{3}{4}\\sqrt{3}", True),
        ("\\sqrt{\\frac{1}{4}}", "0.5", True), ("\u221a2", "\\sqrt{2}", True),
    ],
    "pi": [
        ("12\\pi", "12 \\pi", True), ("\\pi \\cdot 12", "12\\pi", True), ("12\\pi", "12", False),
        ("\\frac{20000}{\\pi}", "20000/\\pi", True), ("18+2\\pi", "2\\pi+18", True),
        ("\\frac{\\pi}{2}", "0.5\\pi", True), ("\\pi/6", "-\\frac{\\pi}{6}", False),
        ("37.699", "12\\pi", False), ("\\frac{5\\pi^2}{4}", "1.25\\pi^2", True),
        ("pi", "\\pi", True), ("\u03c0", "\\pi", True), ("2\u03c0", "2\\pi", True),
    ],
    "percentages": [
        ("50\\%", "50", True), ("50%", "50", True), ("50\\%", "0.5", True), ("0.5", "50\\%", True),
        ("50\\%", "\\frac{1}{2}", True), ("50\\%", "50\\%", True), ("50\\%", "5", False),
        ("25\\%", "50", False), ("12.5\\%", "12.5", True),
    ],
    "degrees": [
        ("90^\\circ", "90", True), ("90", "90^\\circ", True), ("90^{\\circ}", "90^\\circ", True),
        ("90\u00b0", "90", True), ("90 degrees", "90^\\circ", True),
        ("\\frac{270}{7}", "\\frac{270}7\\text{ degrees}", True), ("91^\\circ", "90^\\circ", False),
    ],
    "units_and_words": [
        ("5.4 \\text{ cents}", "5.4", True), ("5.4", "5.4 \\text{ cents}", True),
        ("15 cm^2", "15\\mbox{ cm}^2", True),
        ("864 \\text{ inches}^2", "864 \\mbox{ inches}^2", True),
        ("18 apples", "18", True), ("18 \\text{dollars}", "18", True), ("\\$36", "36", True),
        ("19 apples", "18", False), ("\\text{Evelyn}", "\\text{Evelyn}", True),
        ("Evelyn", "\\text{Evelyn}", True), ("evelyn", "\\text{Evelyn}", True),
        ("\\text{Navin}", "\\text{Evelyn}", False), ("East", "\\text{east}", True),
        ("\\textbf{even}", "\\text{even}", True), ("odd", "\\text{even}", False),
        ("(B)", "\\text{(B)}", True), ("B", "\\text{(B)}", True),
        ("\\text{B}", "\\text{(B)}", True),
        ("(C)", "\\text{(B)}", False), ("ellipse", "\\text{ellipse}", True),
        ("circle", "\\text{ellipse}", False), ("5 \\text{ or } 6", "5", False),
    ],
    "scientific": [
        ("1.5e3", "1500", True), ("1.5E3", "1500", True), ("1.5\\times10^{3}", "1500", True),
        ("1.5 \\cdot 10^3", "1500", True), ("1.5e-3", "0.0015", True),
        ("6.72 \\times 10^{-5}", ".0000672", True), ("1.5e3", "150", False),
        ("2^{10}", "1024", True), ("10^{100}", "1" + "0" * 100, True),
        ("10^{100}", "10^{99}", False),
    ],
    "tuples_and_intervals": [
        ("(1,2)", "(1,2)", True), ("(1, 2)", "\\left( 1, 2 \\right)", True),
        ("(2,1)", "(1,2)", False),
        ("[1,2]", "(1,2)", False), ("(1,2]", "(1,2]", True), ("[1,2)", "(1,2]", False),
        ("(3,\\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
        ("(3, 1.5708)", "\\left( 3, \\frac{\\pi}{2} \\right)", False),
        ("(-\\infty, 0]", "(-\\infty, 0]", True), ("(-\\infty,0)", "(-\\infty, 0]", False),
        ("(-\\infty, 2) \\cup (3, \\infty)", "(-\\infty, 2) \\cup (3, \\infty)", True),
        ("(3, \\infty) \\cup (-\\infty, 2)", "(-\\infty, 2) \\cup (3, \\infty)", True),
        ("(-\\infty, 2] \\cup (3, \\infty)", "(-\\infty, 2) \\cup (3, \\infty)", False),
        ("(-\\infty, 3)", "(-\\infty, 2) \\cup (3, \\infty)", False),
        ("[-2,7]", "x \\in [-2,7]", True), ("x \\in [-2, 7]", "[-2,7]", True),
        ("(1,-16,-4,43)", "(1,-16,-4,43)", True), ("(1,-16,-4,42)", "(1,-16,-4,43)", False),
        ("6,31,-1", "(6,31,-1)", True), ("(0.5, 2)", "(\\frac12, 2)", True),
        ("(2,\\infty)", "(2, \\infty)", True), ("(2,\\infty)", "(3, \\infty)", False),
        ("(\\frac{3}{5},\\frac{8}{3}]", "\\left(\\frac{3}{5},\\frac{8}{3}\\right]", True),
        ("(1,2,3)", "(1,2)", False),
    ],
    "sets_and_lists": [
        ("3, 5, 7", "3, 5, 7", True), ("7, 5, 3", "3, 5, 7", True), ("3, 5", "3, 5, 7", False),
        ("\\{3, 5, 7\\}", "3, 5, 7", True), ("1,-2", "-2,1", True), ("-2, 1", "1,-2", True),
        ("\\{1+\\sqrt{5}, 1-\\sqrt{5}, -2\\}", "\\{1\\pm\\sqrt{5},-2\\}", True),
        ("-2, 1+\\sqrt5, 1-\\sqrt5", "\\{1\\pm\\sqrt{5},-2\\}", True),
        ("\\{1+\\sqrt{5}, -2\\}", "\\{1\\pm\\sqrt{5},-2\\}", False),
        ("1 + \\sqrt{19}, 1 - \\sqrt{19}", "1 \\pm \\sqrt{19}", True),
        ("1+\\sqrt{19}", "1 \\pm \\sqrt{19}", False), ("\\pm 3", "3, -3", True),
        ("3", "\\pm 3", False), ("3, 3", "3", False), ("\\emptyset", "\\{\\}", True),
        ("1, 2, 3, 4, 5, 6", "3", False),
    ],
    "equations": [
        ("x=5", "5", True), ("5", "x=5", True), ("x = 5", "x=5", True), ("y=5", "x=5", False),
        ("x=6", "x=5", False), ("5 = x", "x=5", True), ("y = 2x + 3", "y = 2x + 3", True),
        ("2x + 3", "y = 2x + 3", True), ("2x - y + 3 = 0", "y = 2x + 3", True),
        ("-5x + 7y - 11z - 4 = 0", "5x - 7y + 11z + 4 = 0", True),
        ("10x - 14y + 22z + 8 = 0", "5x - 7y + 11z + 4 = 0", True),
        ("5x - 7y + 11z - 4 = 0", "5x - 7y + 11z + 4 = 0", False),
        ("0", "5x - 7y + 11z + 4 = 0", False), ("y = -2x", "y = -2x", True),
        ("y = 2x", "y = -2x", False), ("\\frac{12}{2} = 6", "6", True), ("2x = 10", "x = 5", True),
        ("x^2 = 25", "x = 5", False), ("k = 5", "5", True),
    ],
    "matrices": [
        ("\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}",
         "\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", True),
        ("\\begin{bmatrix} -1 & 0 \\\\ 0 & -1 \\end{bmatrix}",
         "\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", True),
        ("\\begin{pmatrix} -1 & 0 \\\\ 0 & 1 \\end{pmatrix}",
         "\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", False),
        ("\\begin{pmatrix} -1 & 0 & 0 & -1 \\end{pmatrix}",
         "\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", False),
        ("\\begin{pmatrix} -\\frac13 \\\\ \\frac23 \\\\ \\frac53 \\end{pmatrix}",
         "\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}", True),
        ("(-1/3, 2/3, 5/3)", "\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}", True),
        ("(-1/3, 5/3, 2/3)", "\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}", False),
        ("\\begin{pmatrix} 1/5 \\\\ -18/5 \\end{pmatrix}",
         "\\begin{pmatrix} 0.2 \\\\ -3.6 \\end{pmatrix}", True),
    ],
    "symbolic": [
        ("2(k+1)", "2k+2", True), ("2k+2", "2k+1", False), ("(a+5)(b+2)", "ab+2a+5b+10", True),
        ("(b+2)(a+5)", "(a+5)(b+2)", True), ("(a+5)(b+3)", "(a+5)(b+2)", False),
        ("x^3+3x-6", "3x+x^3-6", True), ("x^3+3x-6", "x^3+3x+6", False),
        ("\\frac{x^9-1}{x-1}", "x^8 + x^7 + x^6 + x^5 + x^4 + x^3 + x^2 + x + 1", True),
        ("\\frac{11+9a}{20}", "\\frac{11}{20}+\\frac{9a}{20}", True),
        ("\\frac{11+9a}{20}", "\\frac{11+9a}{21}", False), ("3R^2", "3 R^2", True),
        ("3r^2", "3R^2", False), ("5r^5", "5 r^{5}", True),
        ("\\cot x", "\\frac{\\cos x}{\\sin x}", True), ("\\cot x", "\\tan x", False),
        ("\\sin^2 x + \\cos^2 x", "1", True), ("2\\sin x \\cos x", "\\sin(2x)", True),
        ("p - q", "-(q - p)", True), ("p - q", "q - p", False),
        ("6r^2-4r-24", "2(3r^2-2r-12)", True), ("-13x+3", "3-13x", True),
        ("8n^2 + 4n + 1", "8n^2+4n-1", False), ("x^{23}", "x^23", True),
        ("e^{i\\pi}", "-1", True), ("\\ln(e^2)", "2", True), ("\\log_2 8", "3", True),
        ("\\binom{5}{2}", "10", True), ("5!", "120", True), ("\\frac{10!}{8!}", "90", True),
        ("|-3|", "3", True), ("\\left|-3\\right|", "3", True), ("\\sqrt{x^2}", "x", True),
        ("\\frac{1}{2}x", "\\frac{x}{2}", True), ("0.5x", "\\frac{x}{2}", True),
        ("1.4142135624x", "\\sqrt{2}x", False), ("\\theta + 1", "1 + \\theta", True),
        ("x_1 + x_2", "x_2 + x_1", True), ("x_1 + x_2", "x_1 + x_3", False),
    ],
    "complex_numbers": [
        ("-2 + 7i", "-2+7i", True), ("7i - 2", "-2 + 7i", True), ("-2 - 7i", "-2 + 7i", False),
        ("1+274i", "1+274i", True), ("(1+2i)(1-2i)", "5", True), ("i^2", "-1", True),
    ],
    "bases": [
        ("204_5", "204_5", True), ("204_{5}", "204_5", True), ("203_5", "204_5", False),
        ("54", "204_5", False), ("4210_{5}", "4210_5", True),
    ],
    "trigonometric_values": [
        ("\\cos(\\pi/3)", "\\frac{1}{2}", True), ("\\sin(\\pi/6)", "0.5", True),
        ("\\sin(\\pi)", "0", True), ("\\tan(\\pi/4)", "1", True),
        ("\\cos(\\pi/3)", "\\frac{\\sqrt3}{2}", False),
    ],
    "near_misses": [
        ("0.67", "\\frac{2}{3}", False), ("1/0", "5", False), ("\\sqrt{-4}", "2", False),
        ("\\sqrt{-4}", "2i", True), ("\\infty", "5", False), ("-\\infty", "\\infty", False),
        ("(1,2)", "\\{1,2\\}", False), ("[1,2]", "1,2", False), ("x+1", "x+1.0001", False),
        ("\\frac{x}{2}", "\\frac{y}{2}", False), ("\\sin x", "\\cos x", False),
        ("2^{10}", "1000", False), ("5\\%", "0.5", False),
        ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(2,1)", False),
        ("10080", "10,\\!081", False), ("3.21", "3.2", False),
        ("(-\\infty, 0]", "[0, \\infty)", False), ("x=5, y=2", "(5,3)", False),
        ("x=5, y=3", "(5,3)", True),
    ],
    "malformed": [
        ("", "5", False), ("   ", "5", False), ("\\frac{1}{", "\\frac{1}{2}", False),
        ("((((", "5", False), ("5 < x", "5", False), ("x > 3", "x > 3", True),
    ],
}
_ROWS = [(cat, a, g, e) for cat, rows in CASES.items() for a, g, e in rows]


def test_case_table_is_large_and_balanced():
  assert len(_ROWS) >= 200
  positives = sum(e for *_, e in _ROWS)
  assert positives >= 100 and len(_ROWS) - positives >= 80


@pytest.mark.parametrize("category,answer,gold,expected", _ROWS,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(_ROWS)])
def test_equivalence_table(category, answer, gold, expected):
  del category
  assert rm.answers_match(answer, gold) is expected
  # The same answer inside a full completion, both output formats.
  assert rm.grade(f"<think>work</think><answer>{answer}</answer>", gold) is (
      expected and bool(answer.strip()))
  if "}" not in answer or answer.count("{") == answer.count("}"):
    assert rm.grade(f"So the result is \\boxed{{{answer}}}.", gold) is (
        expected and bool(answer.strip()))


@pytest.mark.parametrize("text,expected", [
    ("... so \\boxed{\\frac{1}{2}} and finally \\boxed{\\frac{3}{4}}", "\\frac{3}{4}"),
    ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
    ("\\fbox{7}", "7"),
    ("\\fbox{1}, no: \\fbox{2}", "2"),  # The last \fbox, not the first.
    ("\\fbox{1}, \\fbox{2}", "1, 2"),  # Boxes before a last \fbox are listed too.
    ("\\fbox{1} and \\boxed{2} or \\fbox{3}", "1, 2, 3"),
    ("\\boxed 5 is it", "5"),
    ("\\boxed{\\frac{a}{b^{2}}}", "\\frac{a}{b^{2}}"),
    ("<think>\\boxed{1}</think><answer>42</answer>", "42"),
    ("<answer>The value is \\boxed{9}</answer>", "9"),
    ("<answer> 57 </answer>", "57"),
    ("<answer>1</answer> Wait, that is wrong. <answer>2</answer>", "2"),  # The last tag.
    ("<answer>5</answer> then a stray </answer>", "5"),  # Up to the first closing tag.
    ("<answer>The answer is 57.</answer>", "57"),
    ("<think>..</think><answer>12", "12"),
    ("Natalia sold 72 clips.\n#### 72", "72"),
    ("#### 1,080\n", "1,080"),
    ("Thus the answer is $\\frac{1}{2}$. Done.", "\\frac{1}{2}"),
    ("The final answer is: 3.5.", "3.5"),
    ("no answer here", None),
    ("\\boxed{unclosed", None),
    ("", None),
])
def test_extract_answer(text, expected):
  assert rm.extract_answer(text) == expected


def test_plain_number_inside_answer_tags():
  completion = "<think>12+7=19\n19*3=57\n</think><answer>57</answer>"
  assert rm.grade(completion, "57") and not rm.grade(completion, "19")


# ----------------------------------------------------------------------------- real data
def _jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


def _canon(gold: str) -> str:
  """Test oracle for 'the two gold answers are equal': spelling-only differences removed."""
  s = re.sub(r"\\(?:text|mbox)\{[^}]*\}(\^2)?|\^\\circ|\\\$|\\!|\s", "", gold)
  s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
  return re.sub(r"(?<=\d),(?=\d{3})", "", s)


# Cross pairs whose gold answers differ beyond spelling yet denote the same answer.
_EQUAL_GOLDS = {frozenset(p) for p in [("5", "x=5"), ("1,-2", "-2,1"), ("(-2,1)", "-2,1")]}


def test_math500_gold_solutions(shared_data_dir):
  rows = _jsonl(shared_data_dir / "math500" / "test.jsonl")
  golds = [r["answer"] for r in rows]
  assert sum(rm.grade(r["solution"], r["answer"]) for r in rows) == len(rows) == 500
  hits = identical = 0
  for i, row in enumerate(rows):  # every solution against every other problem's answer
    for j, gold in enumerate(golds):
      if i != j and rm.grade(row["solution"], gold):
        hits += 1
        identical += golds[i] == gold
        assert (_canon(golds[i]) == _canon(gold)
                or frozenset((golds[i], gold)) in _EQUAL_GOLDS), (golds[i], gold)
  assert identical == sum(a == b for a in golds for b in golds) - len(golds) == 1942
  assert hits == 2006  # the other 64: "5" ~ "x=5", "120^\circ" ~ "120", "\frac14" ~ ...


def test_gsm8k_gold_solutions(shared_data_dir):
  rows = (_jsonl(shared_data_dir / "gsm8k" / "train.jsonl")
          + _jsonl(shared_data_dir / "gsm8k" / "test.jsonl"))
  assert len(rows) == 8792
  finals = [r["answer"].split("####")[-1].strip() for r in rows]
  assert sum(rm.grade(r["answer"], f) for r, f in zip(rows, finals)) == len(rows)
  for shift in (1, 7, 101):
    for i, row in enumerate(rows):
      j = (i + shift) % len(rows)
      if rm.grade(row["answer"], finals[j]):
        assert finals[i].replace(",", "") == finals[j].replace(",", "")


def test_aime_and_amc_answers(shared_data_dir):
  for name in ("aime24", "amc23"):
    for row in _jsonl(shared_data_dir / name / "test.jsonl"):
      gold = str(row["answer"])
      number = str(int(float(gold)))
      assert rm.grade(f"<answer>{number}</answer>", gold)
      assert not rm.grade(f"<answer>{int(number) + 1}</answer>", gold)


# ----------------------------------------------------------------------------- hostile input
_PAYLOADS = [
    "__import__('os').system('touch {p}')",
    "eval(\"open('{p}', 'w')\")",
    "exec('import os; os.system(\"touch {p}\")')",
    "().__class__.__base__.__subclasses__()",
    "lambda: open('{p}', 'w')",
]


@pytest.mark.parametrize("payload", _PAYLOADS)
def test_code_payloads_do_nothing(payload, tmp_path):
  marker = tmp_path / "pwned"
  text = payload.format(p=marker)
  for completion in (f"\\boxed{{{text}}}", f"<answer>{text}</answer>", f"The answer is {text}"):
    for gold in ("0", "None", "1", "True"):  # What an executed payload might evaluate to.
      assert rm.grade(completion, gold) is False
  assert not marker.exists()


def test_no_code_execution_in_sources():
  import pathlib  # pylint: disable=import-outside-toplevel
  package = pathlib.Path(rm.__file__).parent
  for path in package.glob("*.py"):
    source = path.read_text()
    for banned in ("eval(", "exec(", "sympify(", "parse_expr(", "parse_latex(", "compile("):
      assert not re.search(r"(?<![\w.])" + re.escape(banned), source), (path.name, banned)


_HOSTILE = {
    "power_tower": "\\boxed{9^{9^{9^{9}}}}",
    "factorial": "\\boxed{100000!}",
    "nested_braces": "\\boxed{" + "{" * 10_000 + "1" + "}" * 10_000 + "}",
    "nested_parens": "\\boxed{" + "(" * 5_000 + "1" + ")" * 5_000 + "}",
    "megabyte": "x" * 1_000_000 + "\\boxed{5}",
    "megabyte_of_boxes": "\\boxed{" * 150_000,
    "huge_exponent": "\\boxed{1e999999999}",
    "huge_number": "\\boxed{" + "9" * 20_000 + "}",
    "exp_overflow": "\\boxed{e^{10^{10}}}",
    "symbolic_tower": "\\boxed{x^{9^{9^9}}}",
    "binomial": "\\boxed{\\binom{100000}{50000}}",
    "long_sum": "\\boxed{" + "+".join(["1"] * 5_000) + "}",
    "many_pm": "\\boxed{" + "\\pm 1" * 300 + "}",
    "big_polynomial": "\\boxed{(x+1)^{60}\\sqrt{2}}",
}


@pytest.mark.parametrize("name", sorted(_HOSTILE))
def test_hostile_answers_are_fast_and_wrong(name):
  start = time.perf_counter()
  assert rm.grade(_HOSTILE[name], "5") is (name == "megabyte")
  assert time.perf_counter() - start < 1.0


@hypothesis.settings(max_examples=300, deadline=None, derandomize=True)
@hypothesis.given(st.text(max_size=200), st.sampled_from(["5", "\\frac{1}{2}", "(1,2]", "x=3"]))
def test_fuzz_random_text(text, gold):
  start = time.perf_counter()
  assert isinstance(rm.grade(text, gold), bool)
  assert isinstance(rm.grade(f"\\boxed{{{text}}}", gold), bool)
  assert isinstance(rm.grade(text, gold, extraction="flexible"), bool)
  assert isinstance(rm.grade(f"${text}$ or {text}", gold, extraction="flexible"), bool)
  assert time.perf_counter() - start < 1.0


_FRAGMENTS = ["\\frac", "\\sqrt", "{", "}", "(", ")", "[", "]", "\\{", "\\}", "^", "_", "1", "23",
              "0.5", "x", "y", "\\pi", "\\infty", "-", "+", "*", "/", ",", "=", "\\pm", "\\cup",
              "\\left(", "\\right)", "!", "%", "\\text{cm}", "\\begin{pmatrix}", "&", "\\\\",
              "\\end{pmatrix}", "e", "i", "\\sin", "\\log_", " ", "9^{9^{9}}", "|", "\\$"]


@hypothesis.settings(max_examples=400, deadline=None, derandomize=True)
@hypothesis.given(st.lists(st.sampled_from(_FRAGMENTS), max_size=40).map("".join),
                  st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map("".join))
def test_fuzz_latex_fragments(answer, gold):
  start = time.perf_counter()
  result = rm.answers_match(answer, gold)
  assert isinstance(result, bool)
  if rm.normalize.normalize(answer):
    assert rm.answers_match(answer, answer)
  assert time.perf_counter() - start < 1.0


@hypothesis.settings(max_examples=200, deadline=None, derandomize=True)
@hypothesis.given(st.integers(-10**6, 10**6), st.integers(1, 10**4), st.integers(-10**6, 10**6),
                  st.integers(1, 10**4))
def test_fuzz_fractions_against_exact_reference(p, q, r, s):
  same = p * s == r * q  # Reference: exact integer cross-multiplication.
  assert rm.answers_match(f"\\frac{{{p}}}{{{q}}}", f"{r}/{s}") is same
  assert rm.answers_match(f"\\dfrac{{{p}}}{{{q}}}", f"\\frac{{{p * 3}}}{{{q * 3}}}")


@pytest.mark.parametrize("text,want", [
    # The last '####' of several (a model may write the marker twice).
    ("first #### 3 then #### 7", "7"),
    ("so #### 1 000\nok", "1 000"),  # The whole line after the marker, spaces included.
    ("#### 5\nline two\nline three", "5"),  # Its first line, however many follow.
    ("####72", "72"),  # No space after the marker.
    # 'The answer is' reads to the end of its line only.
    ("so the answer is 5\nand more text here", "5"),
    ("so the answer is 5\nline two\nline three", "5"),
    # Only dollar signs are stripped from around the answer (an 'X' is an answer).
    ("so the answer is X", "X"),
    # An escaped \$ is a currency sign, never a math delimiter.
    ("It cost \\$5 so x is $x = 2$", "x = 2"),
    # ... and inside math it reads as a blank, not as part of the answer.
    ("so the total is $\\$18$", "18"),
    # Math spans holding prose (two or more words) are skipped for the last real one.
    ("so $x$ then $the cat$", "x"),
])
def test_flexible_extraction_edge_cases(text, want):
  """Found by mutation testing (tests/MUTANTS.md): each case fails one surviving mutant."""
  assert rm.extract_answer(text, "flexible") == want


def test_no_gold_or_a_non_string_completion_is_never_correct():
  """A problem without a gold answer grades False, even against a completion that writes
  'None'; so does a completion that is not text (a truncated or failed sample)."""
  for completion in ("\\boxed{None}", "<answer>None</answer>", "\\boxed{1}"):
    assert rm.grade(completion, None) is False
  for completion in (None, 5, b"\\boxed{5}", ["\\boxed{5}"]):
    assert rm.grade(completion, "5") is False
  assert rm.grade("\\boxed{5}", 5) is True  # A non-string gold is read as its text.


def test_matching_brace_skips_escapes_and_honours_stop():
  """The brace matcher the box reader and the length reward share (found by mutation testing:
  every caller passes `stop`, and no box held an escaped brace)."""
  s = "{a\\}b{c}}x"  # '{' 0, escaped '}' 3, nested '{c}' 5-7, the closer at 8.
  assert rm.matching_brace(s, 0) == 8
  assert rm.matching_brace(s, 0, stop=9) == 8
  assert rm.matching_brace(s, 0, stop=8) == -1  # The closer must lie before `stop`.
  assert rm.matching_brace(s, 0, stop=100) == 8  # A stop past the end is the end.
  assert rm.matching_brace("{a", 0) == -1


@pytest.mark.parametrize("text", [
    "so \\boxed   ",  # Only spaces after the box: no argument (and no read past the end).
    "so \\boxed",  # Nothing after it.
    "see \\boxedfoo",  # Another macro's name, not a box.
    "see \\boxeda5",
    # A list whose last box is cut off (a truncated completion) is no answer; the boxes before
    # it are not read as one (a "not found" read as an index made this "1,").
    "so \\boxed{1}, \\boxed{2",
])
def test_what_is_not_a_box(text):
  """Found by mutation testing (tests/MUTANTS.md): each case fails a surviving `_box_at`
  mutant (an index past the end, a missing match read, the name check cut short)."""
  assert rm.extract_answer(text) is None


def test_bounds_hold_exactly_at_their_limits():
  """Each input bound at its value and one past it (found by hand-applied mutants)."""
  box = "\\boxed{7}"
  # Only the last EXTRACT_WINDOW characters are searched: a box that starts one character
  # before the window is cut ("boxed{7}" is no box).
  assert rm.extract_answer(box + " " * (rm.EXTRACT_WINDOW - len(box))) == "7"
  assert rm.extract_answer(box + " " * (rm.EXTRACT_WINDOW - len(box) + 1)) is None
  # Answers of up to MAX_ANSWER_CHARS are compared as mathematics, longer ones as strings.
  pad = lambda s, n: s + " " * (n - len(s))
  assert rm.answers_match(pad("1+1", rm.MAX_ANSWER_CHARS), "2")
  assert not rm.answers_match(pad("1+1", rm.MAX_ANSWER_CHARS + 1), "2")
  # Up to MAX_JOINED_BOXES boxes joined by separators are one list answer, the last ones.
  many = ", ".join(f"\\boxed{{{i}}}" for i in range(1, rm.MAX_JOINED_BOXES + 2))
  want = ", ".join(str(i) for i in range(2, rm.MAX_JOINED_BOXES + 2))
  assert rm.extract_answer(many) == want
  # Boxes at most MAX_BOX_GAP characters apart join; one character more and they do not.
  gap = lambda n: "\\boxed{1}," + " " * (n - 1) + "\\boxed{2}"
  assert rm.extract_answer(gap(rm.MAX_BOX_GAP)) == "1, 2"
  assert rm.extract_answer(gap(rm.MAX_BOX_GAP + 1)) == "2"
