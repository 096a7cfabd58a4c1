"""The grader case set: (category, completion, gold, equivalent?) rows for `grader_bench.py`.

Answer forms come from the shipped benchmarks (MATH-500 LaTeX answers, GSM8K '#### n' numbers,
AIME 0-999 integers with leading zeros, AMC floats such as 27.0) and from the ways models
write the same answer differently. Every verdict was decided by the mathematics, by hand, not
by running either grader: True when the completion's final answer denotes the same object as
the gold answer, False otherwise. Negatives differ subtly (a sign, an open or closed bound, one
element of a set, one digit, another variable).

Conventions the verdicts follow (the same ones `r1jax.rewards.equivalence` documents):
- tuples and intervals are ordered; sets, solution lists and several boxed answers are not;
- a decimal stands for an exact value when it is that value correctly rounded to the digits
  written and states at least 6 significant digits (0.0833333 ~ 1/12; 0.083 and the
  truncation 0.666666 of 2/3 are not);
- `x =`, `k =`, `f(x) =` may be dropped when the other side is the answer;
- an inequality in one variable equals the interval it describes and the same inequality
  written another way round (x >= 5 ~ 5 <= x ~ [5, oo)); a bound's open/closed end matters;
- units, `\\text{}`, `\\$`, degrees and percent words are presentation; 28% ~ 28 ~ 0.28.
Completions are whole model outputs: most box their answer, the 'prose' rows do not.
"""


def _b(answer: str) -> str:
  """A completion that ends in a boxed answer, as MATH-style prompts ask."""
  return f"We simplify step by step.\nTherefore the final answer is $\\boxed{{{answer}}}$."


def _t(answer: str) -> str:
  """A completion in R1's format."""
  return f"<think>Working it out.</think>\n<answer>{answer}</answer>"


def _rows(category: str, pairs) -> list[tuple[str, str, str, bool]]:
  return [(category, c, g, e) for c, g, e in pairs]


CASES = (
    _rows("relations", [
        (_b("x \\geq 5"), "5 \\leq x", True), (_b("x >= 5"), "x \\ge 5", True),
        (_b("x \\ge 5"), "[5, \\infty)", True), (_b("x > 5"), "x \\geq 5", False),
        (_b("x \\le 5"), "x \\ge 5", False), (_b("5 \\le x"), "x \\geq 5", True),
        (_b("x < 3"), "3 > x", True), (_b("x<3"), "(-\\infty, 3)", True),
        (_b("x \\le 3"), "(-\\infty, 3)", False), (_b("x > -2"), "x > 2", False),
        (_b("x \\geq -\\frac{1}{2}"), "x \\ge -0.5", True),
        (_b("y \\geq 5"), "x \\ge 5", False), (_b("x \\geq 6"), "x \\ge 5", False),
        (_b("t > 0"), "t>0", True), (_b("x \\leq 5"), "x < 5", False),
        (_b("x > 5"), "(5, \\infty)", True), (_b("x > 5"), "[5, \\infty)", False),
    ]),
    _rows("intervals", [
        (_b("-2 \\le x \\le 7"), "x \\in [-2,7]", True), (_b("[-2, 7]"), "x \\in [-2,7]", True),
        (_b("-2 < x \\le 7"), "x \\in [-2,7]", False), (_b("-2 \\leq x < 7"), "[-2,7)", True),
        (_b("(-2, 7]"), "x \\in [-2,7]", False), (_b("x \\in (3,4]"), "(3,4]", True),
        (_b("3 < x \\leq 4"), "(3,4]", True), (_b("(3,4)"), "(3,4]", False),
        (_b("\\left[-2,7\\right]"), "[-2, 7]", True), (_b("[-7, 2]"), "[-2, 7]", False),
        (_b("(-\\infty, 0]"), "x \\le 0", True), (_b("(-\\infty,0)"), "(-\\infty, 0]", False),
        (_b("(5,\\infty)"), "(5,\\infty)", True), (_b("(0,9) \\cup (9,36)"), "(0,36)", False),
        (_b("(9,36) \\cup (0,9)"), "(0,9) \\cup (9,36)", True),
        (_b("(-\\infty, 2) \\cup (3, \\infty)"), "(-\\infty, 2) \\cup (3, \\infty)", True),
        (_b("(-\\infty, 2] \\cup (3, \\infty)"), "(-\\infty, 2) \\cup (3, \\infty)", False),
        (_b("\\left( \\frac{3}{5}, \\frac{8}{3} \\right]"),
         "\\left(\\frac{3}{5},\\frac{8}{3}\\right]", True),
        (_b("(0.6, \\frac{8}{3}]"), "\\left(\\frac{3}{5},\\frac{8}{3}\\right]", True),
        (_b("[\\frac{3}{5}, \\frac{8}{3}]"), "\\left(\\frac{3}{5},\\frac{8}{3}\\right]", False),
        (_b("\\left[ \\frac{\\pi^2}{8}, \\frac{5\\pi^2}{4} \\right]"),
         "\\left[ \\frac{\\pi^2}{8}, \\frac{5 \\pi^2}{4} \\right]", True),
        (_b("(-\\sqrt{3}, \\sqrt{3})"), "(-\\sqrt{3}, \\sqrt{3})", True),
        (_b("[-\\sqrt{3}, \\sqrt{3}]"), "(-\\sqrt{3}, \\sqrt{3})", False),
    ]),
    _rows("sets_and_solutions", [
        (_b("\\{1, 2\\}"), "\\{2, 1\\}", True), (_b("\\{1, 2, 3\\}"), "\\{1,2\\}", False),
        (_b("x = 1, x = 2"), "1, 2", True), (_b("x = 2 \\text{ or } x = 1"), "\\{1,2\\}", True),
        (_b("x=1 \\text{ and } x=-2"), "1,-2", True), (_b("x = 1, x = 2"), "1, -2", False),
        (_b("3, 5, 7"), "3, 5, 7", True), (_b("7, 3, 5"), "3, 5, 7", True),
        (_b("3, 5"), "3, 5, 7", False), (_b("3, 5, 8"), "3, 5, 7", False),
        (_b("-2, 1"), "1,-2", True), (_b("2, -1"), "1,-2", False),
        (_b("\\{-2, 1 + \\sqrt{5}, 1 - \\sqrt{5}\\}"), "\\{1\\pm\\sqrt{5},-2\\}", True),
        (_b("\\{-2, 1 + \\sqrt{5}\\}"), "\\{1\\pm\\sqrt{5},-2\\}", False),
        (_b("1 - \\sqrt{19}, 1 + \\sqrt{19}"), "1 \\pm \\sqrt{19}", True),
        (_b("1 + \\sqrt{19}"), "1 \\pm \\sqrt{19}", False),
        (_b("3 \\pm 2\\sqrt{2}"), "3 \\pm 2 \\sqrt{2}", True),
        (_b("3 + 2\\sqrt{2}, 3 - 2\\sqrt{2}"), "3 \\pm 2 \\sqrt{2}", True),
        (_b("\\varnothing"), "\\emptyset", True), (_b("\\{0\\}"), "\\emptyset", False),
        (_b("(1, 2)"), "\\{1, 2\\}", False),
    ]),
    _rows("several_boxes", [
        ("The solutions are $\\boxed{1}, \\boxed{2}$.", "\\{1,2\\}", True),
        ("So $x = \\boxed{2}$ or $x = \\boxed{1}$.", "1, 2", True),
        ("The roots are $\\boxed{-3}$ and $\\boxed{4}$.", "4, -3", True),
        ("The roots are $\\boxed{-3}$ and $\\boxed{4}$.", "3, -4", False),
        ("The solutions are $\\boxed{1}, \\boxed{2}$.", "\\{1,2,3\\}", False),
        ("First $\\boxed{7}$ was wrong; the final answer is $\\boxed{9}$.", "9", True),
        ("First $\\boxed{7}$ was wrong; the final answer is $\\boxed{9}$.", "7", False),
    ]),
    _rows("equations", [
        (_b("k = \\frac{1}{3}"), "1/3", True), (_b("k = \\frac{1}{3}"), "\\frac13", True),
        (_b("k = \\frac{1}{3}"), "\\frac{1}{4}", False), (_b("f(x) = 1"), "1", True),
        (_b("f(x) = x^2 + 1"), "x^2+1", True), (_b("f(x) = x^2 - 1"), "x^2+1", False),
        (_b("g(2) = 7"), "7", True), (_b("x = 5"), "5", True), (_b("5"), "x=5", True),
        (_b("x = -5"), "x=5", False), (_b("y = 5"), "x=5", False),
        (_b("y = 2x + 3"), "y = 2x + 3", True), (_b("2x - y + 3 = 0"), "y = 2x + 3", True),
        (_b("y = 2x - 3"), "y = 2x + 3", False), (_b("y=-2x"), "y = -2x", True),
        (_b("10x - 14y + 22z + 8 = 0"), "5x - 7y + 11z + 4 = 0", True),
        (_b("5x - 7y + 11z - 4 = 0"), "5x - 7y + 11z + 4 = 0", False),
        (_b("a = 3, b = 4"), "(3, 4)", True), (_b("a = 4, b = 3"), "(3, 4)", False),
        (_b("n = 34"), "34", True), (_b("n = 43"), "34", False),
    ]),
    _rows("matrices", [
        (_b("\\begin{bmatrix} -1 & 0 \\\\ 0 & -1 \\end{bmatrix}"),
         "\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", True),
        (_b("\\left(\\begin{array}{cc} -1 & 0 \\\\ 0 & -1 \\end{array}\\right)"),
         "\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", True),
        (_b("\\begin{pmatrix} -1 & 0 \\\\ 0 & 1 \\end{pmatrix}"),
         "\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}", False),
        (_b("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"),
         "\\begin{bmatrix} 1 & 3 \\\\ 2 & 4 \\end{bmatrix}", False),
        (_b("\\begin{pmatrix} -\\frac13 \\\\ \\frac23 \\\\ \\frac53 \\end{pmatrix}"),
         "\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}", True),
        (_b("\\begin{array}{c} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{array}"),
         "\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}", True),
        (_b("\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ -5/3 \\end{pmatrix}"),
         "\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}", False),
        (_b("\\begin{pmatrix} 0.2 \\\\ -3.6 \\end{pmatrix}"),
         "\\begin{pmatrix} 1/5 \\\\ -18/5 \\end{pmatrix}", True),
        (_b("\\begin{pmatrix} 16/49 \\\\ 48/49 \\\\ 24/49 \\end{pmatrix}"),
         "\\begin{pmatrix} 16/49 \\\\ 48/49 \\\\ 24/49 \\end{pmatrix}", True),
        (_b("\\begin{pmatrix} -18 \\\\ -49 \\\\ 96 \\end{pmatrix}"),
         "\\begin{pmatrix} -18 \\\\ 49 \\\\ 96 \\end{pmatrix}", False),
        (_b("\\begin{bmatrix} 2 & 0 \\\\ 0 & 2 \\end{bmatrix}"),
         "\\begin{pmatrix} 2 & 0 \\\\ 0 & 2 \\end{pmatrix}", True),
    ]),
    _rows("decimal_approximations", [
        (_b("0.0833333"), "\\frac{1}{12}", True), (_b("0.083"), "\\frac{1}{12}", False),
        (_b("0.666667"), "\\frac{2}{3}", True), (_b("0.666666"), "\\frac{2}{3}", False),
        (_b("0.666668"), "\\frac{2}{3}", False), (_b("0.67"), "\\frac{2}{3}", False),
        (_b("1.414214"), "\\sqrt{2}", True), (_b("1.4142"), "\\sqrt{2}", False),
        (_b("3.14159"), "\\pi", True), (_b("3.14"), "\\pi", False),
        (_b("37.69911"), "12\\pi", True), (_b("37.7"), "12\\pi", False),
        (_b("-0.5235988"), "-\\frac{\\pi}{6}", True), (_b("0.5235988"), "-\\frac{\\pi}{6}", False),
        (_b("4.6666667"), "\\frac{14}{3}", True), (_b("4.6666"), "\\frac{14}{3}", False),
        (_b("0.15"), "\\frac{3}{20}", True), (_b("0.35625"), ".35625", True),
        (_b("0.3563"), ".35625", False), (_b("2.6457513"), "\\sqrt{7}", True),
    ]),
    _rows("number_formats", [
        (_b("1,000.99"), "1000.99", True), (_b("1 000"), "1000", True),
        (_b("1000,99"), "1000.99", True), (_b("1,000.99"), "1000.9", False),
        (_b("12 345"), "12345", True), (_b("1,000"), "1", False), (_b("1{,}000"), "1000", True),
        (_b("10,\\!080"), "10,\\!080", True), (_b("10080"), "10,\\!080", True),
        (_b("10,081"), "10,\\!080", False), (_b("58,500"), "58500", True),
        (_b("11,111,111,100"), "11,\\! 111,\\! 111,\\! 100", True),
        (_b("\\$32,348"), "\\$32,\\!348", True), (_b("32,384"), "\\$32,\\!348", False),
        (_b("6.72 \\times 10^{-5}"), ".0000672", True), (_b("6.72e-5"), ".0000672", True),
        (_b("6.72 \\times 10^{-4}"), ".0000672", False), (_b("027"), "27", True),
        (_b("70,000"), "70000", True), (_b("7,000"), "70000", False),
    ]),
    _rows("percent", [
        (_b("28 percent"), "28\\%", True), (_b("28 pct"), "28", True),
        (_b("28\\%"), "28", True), (_b("28 per cent"), "28", True),
        (_b("0.28"), "28\\%", True), (_b("29 percent"), "28\\%", False),
        (_b("2.8\\%"), "28", False), (_b("12.5\\%"), "\\frac{1}{8}", True),
        (_b("\\text{28 percent}"), "28", True), (_b("28\\text{ percent}"), "28", True),
    ]),
    _rows("units_and_text", [
        (_b("\\text{5}"), "5", True), (_b("5 \\text{ cm}"), "5", True),
        (_b("\\text{18 dollars}"), "18", True), (_b("\\$18.90"), "18.9", True),
        (_b("18.90 \\text{ dollars}"), "\\$18.90", True), (_b("19.80"), "\\$18.90", False),
        (_b("864 \\text{ in}^2"), "864 \\mbox{ inches}^2", True),
        (_b("15 \\mathrm{cm}^2"), "15\\mbox{ cm}^2", True), (_b("16\\text{ cm}^2"), "15", False),
        (_b("5.4 \\text{ cents}"), "5.4 \\text{ cents}", True), (_b("90^\\circ"), "90", True),
        (_b("90 \\text{ degrees}"), "90^\\circ", True), (_b("\\frac{270}{7}^\\circ"),
                                                         "\\frac{270}7\\text{ degrees}", True),
        (_b("106^{\\circ}"), "106^\\circ", True), (_b("116^\\circ"), "106^\\circ", False),
        (_b("\\text{Evelyn}"), "\\text{Evelyn}", True), (_b("Evelyn"), "\\text{Evelyn}", True),
        (_b("\\text{Navin}"), "\\text{Evelyn}", False), (_b("\\text{(C)}"), "\\text{(C)}", True),
        (_b("C"), "\\text{(C)}", True), (_b("(B)"), "\\text{(C)}", False),
        (_b("\\text{east}"), "\\text{east}", True), (_b("\\text{even}"), "\\text{odd}", False),
    ]),
    _rows("fraction_and_root_spellings", [
        (_b("\\dfrac{14}{3}"), "\\frac{14}{3}", True), (_b("\\tfrac{14}{3}"), "\\frac{14}{3}", True),
        (_b("\\cfrac{14}{3}"), "\\frac{14}{3}", True), (_b("\\frac{14}{3}"), "\\dfrac{14}{3}", True),
        (_b("\\frac13"), "\\frac{1}{3}", True), (_b("\\frac13"), "\\frac{1}{4}", False),
        (_b("\\sqrt3"), "\\sqrt{3}", True), (_b("\\sqrt3"), "\\sqrt{2}", False),
        (_b("\\frac{1}{\\sqrt3}"), "\\frac{\\sqrt{3}}{3}", True),
        (_b("\\sqrt{3}/3"), "\\frac{\\sqrt{3}}{3}", True), (_b("\\dfrac{\\sqrt{21}}{5}"),
                                                          "\\frac{\\sqrt{21}}{5}", True),
        (_b("\\frac{\\sqrt{21}}{6}"), "\\frac{\\sqrt{21}}{5}", False),
        (_b("\\cfrac{1}{2+\\cfrac{1}{2}}"), "\\frac{2}{5}", True),
        (_b("\\frac 59"), "\\frac 59", True), (_b("5/9"), "\\frac 59", True),
        (_b("9/5"), "\\frac 59", False), (_b("2\\sqrt{113}"), "2\\sqrt{113}", True),
        (_b("\\sqrt{452}"), "2\\sqrt{113}", True), (_b("\\sqrt{451}"), "2\\sqrt{113}", False),
        (_b("1\\frac{4}{5}"), "1\\frac{4}{5}", True), (_b("\\frac{9}{5}"), "1\\frac{4}{5}", True),
        (_b("1.8"), "1\\frac{4}{5}", True), (_b("137.5"), "137 \\frac{1}{2}", True),
        (_b("\\sqrt[3]{8}"), "2", True), (_b("11\\sqrt{2}"), "11\\sqrt2", True),
    ]),
    _rows("math500_forms", [
        (_b("(3, \\frac{\\pi}{2})"), "\\left( 3, \\frac{\\pi}{2} \\right)", True),
        (_b("\\left(3, \\pi/2\\right)"), "\\left( 3, \\frac{\\pi}{2} \\right)", True),
        (_b("(\\frac{\\pi}{2}, 3)"), "\\left( 3, \\frac{\\pi}{2} \\right)", False),
        (_b("(6, 31, -1)"), "(6,31,-1)", True), (_b("(6, -31, -1)"), "(6,31,-1)", False),
        (_b("(\\frac{3}{2}, -13)"), "\\left( \\frac{3}{2}, -13 \\right)", True),
        (_b("(1.5, -13)"), "\\left( \\frac{3}{2}, -13 \\right)", True),
        (_b("6-5i"), "6 - 5i", True), (_b("6+5i"), "6 - 5i", False),
        (_b("-5i+6"), "6 - 5i", True), (_b("p-q"), "p - q", True), (_b("q-p"), "p - q", False),
        (_b("2(k+1)"), "2k+2", True), (_b("2k+1"), "2k+2", False),
        (_b("ab + 2a + 5b + 10"), "(a+5)(b+2)", True), (_b("(a+2)(b+5)"), "(a+5)(b+2)", False),
        (_b("x^3+3x-6"), "x^3+3x-6", True), (_b("3x + x^3 - 6"), "x^3+3x-6", True),
        (_b("\\frac{x^9 - 1}{x - 1}"), "x^8 + x^7 + x^6 + x^5 + x^4 + x^3 + x^2 + x + 1", True),
        (_b("\\cot x"), "\\cot x", True), (_b("\\frac{\\cos x}{\\sin x}"), "\\cot x", True),
        (_b("\\tan x"), "\\cot x", False), (_b("52_8"), "52_8", True),
        (_b("52_{8}"), "52_8", True), (_b("53_8"), "52_8", False), (_b("288\\pi"), "288 \\pi", True),
        (_b("288"), "288 \\pi", False), (_b("18 + 2\\pi"), "18+2\\pi", True),
        (_b("\\frac{20000}{\\pi}"), "\\frac{20000}{\\pi}", True), (_b("3\\sqrt{13}"),
                                                                 "3\\sqrt{13}", True),
        (_b("\\sqrt{117}"), "3\\sqrt{13}", True), (_b("3\\sqrt{14}"), "3\\sqrt{13}", False),
        (_b("1 - 12i"), "1 - 12i", True), (_b("1+12i"), "1 - 12i", False),
        (_b("\\frac{3840}{289}"), "\\frac{3840}{289}", True), (_b("\\frac{3840}{298}"),
                                                               "\\frac{3840}{289}", False),
        (_b("-\\frac{35}{9}"), "-\\frac{35}{9}", True), (_b("\\frac{35}{9}"), "-\\frac{35}{9}",
                                                          False),
        (_b("\\frac{-35}{9}"), "-\\frac{35}{9}", True), (_b("x=5"), "x=5", True),
        (_b("8n^2+4n+1"), "8n^2 + 4n + 1", True), (_b("8n^2+4n-1"), "8n^2 + 4n + 1", False),
    ]),
    _rows("gsm8k_aime_amc_forms", [
        (_b("18"), "18", True), (_b("\\$18"), "18", True), (_b("18.00"), "18", True),
        (_b("18.5"), "18", False), (_b("-18"), "18", False), (_b("57,500"), "57500", True),
        (_b("5,750"), "57500", False), (_b("\\$70,000"), "70000", True),
        (_b("25"), "025", True), (_b("025"), "025", True), (_b("52"), "025", False),
        (_b("33"), "033", True), (_b("330"), "033", False), (_b("27"), "27.0", True),
        (_b("27.5"), "27.0", False), (_b("3159"), "3159.0", True), (_b("-1"), "-1.0", True),
        (_b("1"), "-1.0", False), (_b("1625"), "1625.0", True), (_b("1652"), "1625.0", False),
        (_t("204"), "204", True), (_t("\\boxed{204}"), "204", True), (_t("240"), "204", False),
        ("Natalia sold 48 + 24 = 72 clips.\n#### 72", "72", True),
        ("Natalia sold 48 + 24 = 72 clips.\n#### 72", "48", False),
    ]),
    _rows("prose", [
        ("Checking every case, the largest n is 34.", "34", True),
        ("Checking every case, the largest n is 35.", "34", False),
        ("So there are 12 ways to do it.", "12", True),
        ("So there are 12 ways to do it.", "13", False),
        ("Therefore, the answer is $\\frac{1}{2}$.", "\\frac12", True),
        ("Therefore, the answer is $-\\frac{1}{2}$.", "\\frac12", False),
        ("The area of the triangle is $6\\sqrt{3}$.", "6\\sqrt{3}", True),
        ("The area of the triangle is $6\\sqrt{2}$.", "6\\sqrt{3}", False),
        ("We get $x^2 = 4$, so\n$$x = 2$$", "2", True),
        ("We get $x^2 = 9$, so\n$$x = 3$$", "2", False),
        ("The total cost is \\$18.90.", "18.9", True),
        ("She has 3 apples and buys 4 more, so she has 7 apples.", "7", True),
        ("She has 3 apples and buys 4 more, so she has 7 apples.", "4", False),
        ("Final answer: \\( (3, 4] \\)", "(3,4]", True),
        ("Final answer: \\( (3, 4) \\)", "(3,4]", False),
        ("Solving, we find $x = \\frac{1}{3}$.", "\\frac{1}{3}", True),
        ("The probability is 0.25.", "\\frac{1}{4}", True),
        ("The probability is 0.26.", "\\frac{1}{4}", False),
    ]),
)
CASES = tuple(row for rows in CASES for row in rows)
