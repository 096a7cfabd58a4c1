"""Test-time scaling over a sweep of eval_main runs: parallel (pass@k, maj@k against k) and
sequential (accuracy against the thinking budget), mean +- std and a 95% bootstrap CI over the
runs of each point (the sweep's seeds: one model each), for one task.

  python -m r1jax.eval.scaling_report DIR [--task arith/test]

Reads each finished run's results.json (`outcome`: the test-time recipe's k and budget sweeps)
and writes DIR/scaling.md and DIR/scaling.png. results.md (r1jax.eval.compare) has the flat
metrics; this adds the two curves, which are lists per run rather than single numbers.
"""
from __future__ import annotations

import argparse
import math
import pathlib
import sys
from typing import Mapping, Sequence

from r1jax.eval import compare, plots

SCALING_MD = "scaling.md"
SCALING_PNG = "scaling.png"


def _task(res: Mapping, task: str) -> Mapping:
  for t in res.get("outcome", []):
    if t.get("task") == task:
      return t
  raise ValueError(f"results.json has no test-time outcome for task {task!r}")


def curves(by_point: Mapping[str, list], task: str) -> dict[str, dict[str, dict]]:
  """point -> {'k': {k: {'pass@k': summary, 'maj@k': summary}},
               'budget': {b: {'accuracy': summary, 'thinking_mean': summary}}}."""
  out = {}
  for point, runs in by_point.items():
    if not runs:
      continue
    tasks = [_task(res, task) for _, res in runs]
    ks = sorted({row["k"] for t in tasks for row in t.get("k_sweep", [])})
    budgets = sorted({row["budget"] for t in tasks for row in t.get("budget_sweep", [])})

    def per(rows_key, key_field, key, fields):
      vals = {f: [] for f in fields}
      for t in tasks:
        row = next((r for r in t.get(rows_key, []) if r[key_field] == key), None)
        for f in fields:
          vals[f].append(math.nan if row is None else float(row[f]))
      return {f: compare.summarize(v) for f, v in vals.items()}

    out[point] = {"k": {k: per("k_sweep", "k", k, ("pass@k", "maj@k")) for k in ks},
                  "budget": {b: per("budget_sweep", "budget", b,
                                    ("accuracy", "thinking_mean", "tokens"))
                             for b in budgets}}
  return out


def _cell(s: Mapping) -> str:
  if s["n"] == 0:
    return "-"
  if s["n"] < 2:
    return f"{s['mean']:.3f}"
  lo, hi = s["ci"]
  return f"{s['mean']:.3f} +- {s['std']:.3f} [{lo:.3f}, {hi:.3f}]"


def table(c: Mapping[str, Mapping], task: str) -> str:
  lines = [f"# Test-time scaling on {task}", "",
           "Mean +- std over runs (one model per seed), [95% bootstrap CI of the mean].", ""]
  for point, cur in c.items():
    n = max((s["n"] for row in cur["k"].values() for s in row.values()), default=0)
    lines += [f"## {point} (n={n})", "", "| k | pass@k | maj@k |", "|---|---|---|"]
    lines += [f"| {k} | {_cell(r['pass@k'])} | {_cell(r['maj@k'])} |"
              for k, r in cur["k"].items()]
    lines += ["", "| budget | accuracy (greedy) | thinking tokens | tokens |", "|---|---|---|---|"]
    lines += [f"| {b} | {_cell(r['accuracy'])} | {_cell(r['thinking_mean'])} | "
              f"{_cell(r['tokens'])} |" for b, r in cur["budget"].items()]
    lines.append("")
  return "\n".join(lines)


def plot(c: Mapping[str, Mapping], task: str, out_png) -> pathlib.Path | None:
  """Left: pass@k and maj@k against k (log2). Right: accuracy against mean thinking tokens,
  one line per point (budget mode). Bands are the 95% CIs."""
  if not c:
    return None
  plt = plots.pyplot()
  fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
  first = next(iter(c.values()))
  ks = list(first["k"])
  for name in ("pass@k", "maj@k"):
    mean = [first["k"][k][name]["mean"] for k in ks]
    lo = [first["k"][k][name]["ci"][0] for k in ks]
    hi = [first["k"][k][name]["ci"][1] for k in ks]
    left.plot(ks, mean, marker="o", label=name)
    left.fill_between(ks, lo, hi, alpha=0.2)
  left.set_xscale("log", base=2)
  left.set_xlabel("samples per problem k")
  left.set_ylabel("accuracy")
  left.set_title(f"parallel scaling ({next(iter(c))})")
  left.legend()
  for point, cur in c.items():
    bs = list(cur["budget"])
    x = [cur["budget"][b]["thinking_mean"]["mean"] for b in bs]
    y = [cur["budget"][b]["accuracy"]["mean"] for b in bs]
    lo = [cur["budget"][b]["accuracy"]["ci"][0] for b in bs]
    hi = [cur["budget"][b]["accuracy"]["ci"][1] for b in bs]
    right.plot(x, y, marker="o", label=point)
    right.fill_between(x, lo, hi, alpha=0.2)
  right.set_xlabel("mean thinking tokens")
  right.set_ylabel("greedy accuracy")
  right.set_title("sequential scaling (budget forcing)")
  right.legend()
  return plots._save(fig, out_png)  # pylint: disable=protected-access


def report(workdir, task: str = "arith/test") -> str:
  """Writes DIR/scaling.md and DIR/scaling.png; returns the markdown."""
  workdir = pathlib.Path(workdir)
  _, by_point = compare.collect(workdir)
  c = curves(by_point, task)
  md = table(c, task)
  (workdir / SCALING_MD).write_text(md)
  plot(c, task, workdir / SCALING_PNG)
  return md


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m r1jax.eval.scaling_report",
                                   description=__doc__.splitlines()[0])
  parser.add_argument("workdir")
  parser.add_argument("--task", default="arith/test")
  args = parser.parse_args(argv)
  return compare.print_or_fail(report, args.workdir, args.task)


if __name__ == "__main__":
  sys.exit(main())
