"""Reward grading throughput on MATH-500-like completions: one process and the process pool.

  .venv/bin/python benchmarks/reward_bench.py --data_dir ../shared/data --workers 2

Each MATH-500 problem gets `--group` completions shaped like R1 rollouts: the reference
solution as the <think> block (its \\boxed removed), then an <answer> that is the gold answer,
the gold re-spelled ($..$, \\dfrac, spaces), another problem's answer, a decimal guess, or
nothing. Caches are cleared before every in-process pass and every pool is fresh, so figures
are cold-cache. Prints one JSON line per measurement (completions graded per second).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import platform
import random
import time

from r1jax.rewards import math as math_lib
from r1jax.rewards import pool as pool_lib
from r1jax.rewards import registry
from r1jax.rewards.registry import RewardSpec

SPEC_SETS = {
    "math_accuracy": [RewardSpec("math_accuracy", 1.0)],
    "r1_mix": [RewardSpec("math_accuracy", 1.0), RewardSpec("format_strict", 0.5),
               RewardSpec("overlong", 1.0, {"max_len": 4096, "cache_len": 1024}),
               RewardSpec("repetition", 0.1), RewardSpec("language_consistency", 0.1)],
}


def _respell(answer: str, rng: random.Random) -> str:
  choice = rng.randrange(3)
  if choice == 0:
    return f"${answer}$"
  if choice == 1:
    return answer.replace("\\frac", "\\dfrac")
  return " ".join(answer.split(",")) if "(" not in answer else answer.replace(",", ", ")


def make_completions(rows: list[dict], group: int, seed: int = 0):
  rng = random.Random(seed)
  completions, examples = [], []
  for row in rows:
    thinking = row["solution"].replace("\\boxed", "")
    for k in range(group):
      kind = k % 8
      if kind in (0, 1):
        answer = row["answer"]
      elif kind == 2:
        answer = _respell(row["answer"], rng)
      elif kind in (3, 4, 5):
        answer = rows[rng.randrange(len(rows))]["answer"]
      elif kind == 6:
        answer = f"{rng.uniform(-100, 100):.3f}"
      else:
        answer = None
      tail = "" if answer is None else f"\n<answer>{answer}</answer>"
      completions.append(f"<think>{thinking}</think>{tail}")
      examples.append({"answer": row["answer"], "task": "math500"})
  return completions, examples


def _clear_caches() -> None:
  math_lib.answers_match.cache_clear()
  math_lib._tree.cache_clear()  # pylint: disable=protected-access


def bench_in_process(completions, examples, specs, repeats: int) -> float:
  best = float("inf")
  for _ in range(repeats):
    _clear_caches()
    start = time.perf_counter()
    registry.grade_batch(completions, examples, specs)
    best = min(best, time.perf_counter() - start)
  return len(completions) / best


def bench_pool(completions, examples, specs, workers: int, repeats: int) -> float:
  best = float("inf")
  warmup = [("<answer>1</answer>", {"answer": "1"})] * (8 * workers)
  for _ in range(repeats):
    with pool_lib.RewardPool(num_workers=workers) as pool:
      registry.grade_batch([c for c, _ in warmup], [e for _, e in warmup], specs, pool=pool)
      start = time.perf_counter()
      registry.grade_batch(completions, examples, specs, pool=pool)
      best = min(best, time.perf_counter() - start)
  return len(completions) / best


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data_dir", default="../shared/data", help="folder with math500/")
  parser.add_argument("--workers", type=int, default=2)
  parser.add_argument("--group", type=int, default=8, help="completions per problem")
  parser.add_argument("--repeats", type=int, default=3, help="best of this many passes")
  args = parser.parse_args()
  path = pathlib.Path(args.data_dir) / "math500" / "test.jsonl"
  with open(path) as f:
    rows = [json.loads(line) for line in f]
  completions, examples = make_completions(rows, args.group)
  chars = sum(map(len, completions)) / len(completions)
  for name, specs in SPEC_SETS.items():
    for mode in ("in_process", "pool"):
      if mode == "in_process":
        rate = bench_in_process(completions, examples, specs, args.repeats)
      else:
        rate = bench_pool(completions, examples, specs, args.workers, args.repeats)
      print(json.dumps({"specs": name, "mode": mode,
                        "workers": args.workers if mode == "pool" else 1,
                        "completions": len(completions), "mean_chars": round(chars),
                        "completions_per_s": round(rate), "python": platform.python_version()}))


if __name__ == "__main__":
  main()
