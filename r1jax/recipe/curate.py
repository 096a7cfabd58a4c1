"""Small curated SFT sets against random ones (LIMO, s1): subsets of a task's reference traces.

  python -m r1jax.recipe.curate --config=experiments/configs/arith_tiny.py \
      --out=/tmp/r1jax/sft_sets --sizes=100,1000,10000 --seeds=0,1,2

For each seed s and size n it writes `<out>/<selection>-<n>.seed-<s>.jsonl` (prompt, completion,
answer, id rows that sft.train_file reads) for three selections from one pool of the first
`pool` training examples of the config's task (a seed shuffles the pool, so each seed draws
other subsets):
  random:   n traces drawn uniformly, as the teacher wrote them (sloppy ones included);
  verified: n traces drawn uniformly among the verified ones (s1's quality criterion alone);
  curated:  n verified traces chosen for difficulty and diversity (LIMO, s1): the traces are
            grouped by their operator pattern, and each group is taken hardest first, one
            trace per group in turn, until n are chosen.
Verified: correct final answer, R1's format and every step right (the math_accuracy,
format_strict and process_steps rewards, all at their maximum). Difficulty: the number of
steps with a two-digit operand or result, then the largest value in the chain.
`<out>/sets.json` records each file's size and its share of verified traces.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import random
import re
import sys
from typing import Callable, Mapping, Sequence

from r1jax import experiment_files
from r1jax.data import sources
from r1jax.rewards import registry

SELECTIONS = ("random", "verified", "curated")
_STEP = re.compile(r"(\d+)([-+*/])(\d+)=(\d+)")


def verified(ex: Mapping) -> bool:
  """The trace earns every rule reward in full: answer, format and each step."""
  c = ex["completion"]
  return (registry.math_accuracy(c, ex).score >= registry.CORRECT_AT
          and registry.format_strict(c, ex).score >= registry.CORRECT_AT
          and registry.process_steps(c, ex).score >= registry.CORRECT_AT)


def difficulty(ex: Mapping) -> tuple[int, int]:
  """(steps with a two-digit number, largest number): larger is harder."""
  steps = [tuple(int(x) for x in (m[1], m[3], m[4])) for m in _STEP.finditer(ex["solution"])]
  return (sum(max(s) >= 10 for s in steps), max((max(s) for s in steps), default=0))


def pattern(ex: Mapping) -> str:
  """The operator sequence of the question ('+-+'): the diversity buckets."""
  return "".join(ch for ch in ex["question"] if ch in "+-*/")


def select(pool: Sequence[Mapping], n: int, how: str, rng: random.Random,
           is_verified: Callable[[Mapping], bool] = verified) -> list[Mapping]:
  """n examples of `pool` (already in this seed's order) chosen by selection `how`."""
  if how == "random":
    chosen = list(pool)
  elif how in ("verified", "curated"):
    chosen = [ex for ex in pool if is_verified(ex)]
  else:
    raise ValueError(f"unknown selection {how!r}; choose from {SELECTIONS}")
  if len(chosen) < n:
    raise ValueError(f"{how}: only {len(chosen)} candidates for a set of {n}; raise --pool")
  if how != "curated":
    return rng.sample(chosen, n)
  groups: dict[str, list[Mapping]] = {}
  for ex in chosen:
    groups.setdefault(pattern(ex), []).append(ex)
  for g in groups.values():
    g.sort(key=difficulty, reverse=True)  # Stable: ties keep the seed's order.
  out, depth = [], 0
  while len(out) < n:
    for key in sorted(groups):
      if depth < len(groups[key]) and len(out) < n:
        out.append(groups[key][depth])
    depth += 1
  return out


def _task(config_file: str):
  c = experiment_files.load_config(config_file)
  if c.data.source not in ("arith", "countdown"):
    raise ValueError(f"{config_file}: data.source must be a synthetic task (arith or "
                     f"countdown), got {c.data.source!r}")
  return c.data.source, c.data.template, dict(c.data.knobs)


def write_sets(config_file: str, out, sizes: Sequence[int], seeds: Sequence[int],
               pool_size: int) -> dict:
  task, template, knobs = _task(config_file)
  # The prompts exactly as the runs of that config render them (its template).
  source = sources.get_source(task, None, "train", template, **knobs)
  if len(source) < pool_size:
    raise ValueError(f"--pool {pool_size}: the {task} training split has {len(source)}")
  base = [source[i] for i in range(pool_size)]
  ok = {ex["id"] for ex in base if verified(ex)}  # Graded once, not once per set.
  is_verified = lambda ex: ex["id"] in ok
  out = pathlib.Path(out)
  out.mkdir(parents=True, exist_ok=True)
  info = {"config": config_file, "task": task, "template": template, "knobs": knobs, "pool": pool_size, "sets": {}}
  for seed in seeds:
    order = random.Random(f"curate/order/{seed}")
    pool = list(base)
    order.shuffle(pool)
    for how in SELECTIONS:
      for n in sizes:
        rows = select(pool, n, how, random.Random(f"curate/{how}/{n}/{seed}"), is_verified)
        name = f"{how}-{n}.seed-{seed}.jsonl"
        tmp = out / (name + ".partial")
        tmp.write_text("".join(json.dumps({k: ex[k] for k in ("prompt", "completion",
                                                                 "answer", "id")}) + "\n"
                               for ex in rows))
        tmp.replace(out / name)
        info["sets"][name] = {"size": n, "verified": sum(map(is_verified, rows)) / n,
                              "patterns": len({pattern(ex) for ex in rows})}
  (out / "sets.json").write_text(json.dumps(info, indent=2))
  return info


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m r1jax.recipe.curate", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--config", required=True, help="config file naming the synthetic task")
  parser.add_argument("--out", required=True)
  parser.add_argument("--sizes", default="100,1000,10000")
  parser.add_argument("--seeds", default="0,1,2")
  parser.add_argument("--pool", type=int, default=40_000, help="training examples to draw from")
  args = parser.parse_args(argv)
  try:
    info = write_sets(args.config, args.out, [int(x) for x in args.sizes.split(",")],
                      [int(x) for x in args.seeds.split(",")], args.pool)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  for name, s in info["sets"].items():
    print(f"{name}: {s['size']} traces, {s['verified']:.0%} verified, {s['patterns']} patterns")
  return 0


if __name__ == "__main__":
  sys.exit(main())
