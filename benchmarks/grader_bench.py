"""r1jax's math grader and Math-Verify, side by side on the same case set in one run.

  pip install -e '.[bench]'   # math-verify, in an environment of its own
  PYTHONPATH=. python benchmarks/grader_bench.py [--show_misses] [--repeats 3]

The cases (`grader_cases.py`) are whole completions with a gold answer and a verdict decided
by hand. Each grader sees the same strings: r1jax as `grade(completion, gold,
extraction=...)`, Math-Verify as `verify(parse(f"${gold}$"), parse(completion))`, its
documented use. Reported per grader: agreement with the expected verdicts, false positives
(graded correct, expected wrong), false negatives, grades/s over the whole set (caches of both
cleared before every pass, best of `--repeats` passes) and the slowest single case. Without
math-verify installed only r1jax's rows are printed.
"""
from __future__ import annotations

import argparse
import collections
import inspect
import json
import pathlib
import platform
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import grader_cases  # pylint: disable=wrong-import-position

from r1jax.rewards import math as math_lib  # pylint: disable=wrong-import-position


def _r1jax_grader(extraction: str):
  takes_mode = "extraction" in inspect.signature(math_lib.grade).parameters
  kwargs = {"extraction": extraction} if takes_mode else {}

  def clear():
    for fn in (math_lib.answers_match, math_lib._tree):  # pylint: disable=protected-access
      fn.cache_clear()

  return (lambda completion, gold: bool(math_lib.grade(completion, gold, **kwargs))), clear


def _math_verify_grader():
  try:
    import math_verify  # pylint: disable=import-outside-toplevel
  except ImportError:
    return None

  def grade(completion, gold):
    try:
      return bool(math_verify.verify(math_verify.parse(f"${gold}$"),
                                     math_verify.parse(completion)))
    except Exception:  # pylint: disable=broad-except
      return False  # A grader failure is a 'wrong' verdict, as in an RL reward.

  def clear():
    # Math-Verify memoises nothing across calls that a cold pass would miss, but its
    # latex2sympy conversion caches do; clear whatever lru caches its modules expose.
    for module in list(sys.modules.values()):
      if module is not None and getattr(module, "__name__", "").startswith(
          ("math_verify", "latex2sympy2_extended")):
        for value in vars(module).values():
          if hasattr(value, "cache_clear"):
            value.cache_clear()

  return grade, clear


def run(name: str, grade, clear, cases, repeats: int) -> dict:
  best_total, verdicts, slowest = float("inf"), None, (0.0, None)
  for _ in range(repeats):
    clear()
    out, times = [], []
    for _, completion, gold, _ in cases:
      start = time.perf_counter()
      out.append(grade(completion, gold))
      times.append(time.perf_counter() - start)
    total = sum(times)
    if total < best_total:
      best_total, verdicts = total, out
      i = max(range(len(times)), key=times.__getitem__)
      slowest = (times[i], cases[i])
  expected = [e for *_, e in cases]
  agree = sum(v == e for v, e in zip(verdicts, expected))
  by_category = collections.defaultdict(lambda: [0, 0])
  misses = []
  for case, v in zip(cases, verdicts):
    by_category[case[0]][0] += v == case[3]
    by_category[case[0]][1] += 1
    if v != case[3]:
      misses.append({"category": case[0], "completion": case[1][-120:], "gold": case[2],
                     "expected": case[3]})
  return {
      "grader": name, "cases": len(cases), "agreement": round(agree / len(cases), 4),
      "agree": agree,
      "false_positives": sum(v and not e for v, e in zip(verdicts, expected)),
      "false_negatives": sum(e and not v for v, e in zip(verdicts, expected)),
      "grades_per_s": round(len(cases) / best_total, 1),
      "slowest_ms": round(slowest[0] * 1e3, 2),
      "slowest_case": {"category": slowest[1][0], "gold": slowest[1][2],
                       "completion": slowest[1][1][-80:]},
      "by_category": {k: f"{a}/{n}" for k, (a, n) in sorted(by_category.items())},
      "misses": misses,
  }


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--repeats", type=int, default=3, help="passes per grader; best is kept")
  parser.add_argument("--show_misses", action="store_true", help="print every disagreement")
  args = parser.parse_args(argv)
  cases = list(grader_cases.CASES)
  graders = [("r1jax_flexible", *_r1jax_grader("flexible")),
             ("r1jax_strict", *_r1jax_grader("strict"))]
  mv = _math_verify_grader()
  if mv is None:
    print("math-verify is not installed (pip install -e '.[bench]'): r1jax only",
          file=sys.stderr)
  else:
    graders.append(("math_verify", *mv))
  print(json.dumps({"python": platform.python_version(), "machine": platform.machine(),
                    "cases": len(cases), "positives": sum(c[3] for c in cases)}))
  for name, grade, clear in graders:
    result = run(name, grade, clear, cases, args.repeats)
    misses = result.pop("misses")
    print(json.dumps(result))
    if args.show_misses:
      for miss in misses:
        print("  miss", json.dumps(miss))


if __name__ == "__main__":
  main()
