"""Aggregates a sweep's runs: results.md (mean +- std and 95% CIs over seeds) and curves.png.

  python -m r1jax.eval.compare DIR [--baseline POINT] [--with OTHER_DIR ...]
      [--metric NAME:KIND ...]

DIR is a sweep workdir (experiments/sweep_main.py): DIR/sweep.json names the points, seeds and
metrics, and each run's DIR/<run>/results.json (r1jax/results.py) holds its numbers. Only
finished runs count; a point's row says how many seeds it has. `--with` adds the points of
other sweep workdirs to the table (a comparison across mains, e.g. expert iteration's runs
against an RL sweep's points from the same starting models), measured by DIR's metrics; the
output is still DIR/results.md, DIR/points.png and DIR/curves.png.

Statistics, per point and metric, over the point's seeds x_1..x_n:
  mean, std (n-1 denominator; '-' for one seed, and so is the CI),
  95% CI of the mean: percentile bootstrap, B resamples of n seeds with replacement drawn by
    numpy.random.default_rng(seed) as rng.integers(0, n, (B, n)); the 2.5th and 97.5th
    percentiles of the resampled means (numpy's default linear interpolation);
  difference to the baseline point: mean(point) - mean(baseline), with a 95% CI from
    resampling both points independently (point first, then baseline, from one generator);
  paired difference: over the seeds both points ran, the mean of point - baseline at the same
    seed, with the bootstrap CI of that mean (resampling seeds): runs of one seed share its
    warm start and data order, so pairing removes the seed-to-seed spread.
Run-to-run seed noise is the only noise measured; with 3 seeds the CIs are rough.
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
from typing import Mapping, Sequence

import numpy as np

from r1jax import results as results_lib

BOOTSTRAP_SAMPLES = 10_000
BOOTSTRAP_SEED = 0
RESULTS_MD = "results.md"
CURVES_PNG = "curves.png"
POINTS_PNG = "points.png"


def bootstrap_ci(x: Sequence[float], samples: int = BOOTSTRAP_SAMPLES,
                 seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
  x = np.asarray(x, np.float64)
  rng = np.random.default_rng(seed)
  means = x[rng.integers(0, len(x), (samples, len(x)))].mean(1)
  lo, hi = np.percentile(means, [2.5, 97.5])
  return float(lo), float(hi)


def bootstrap_diff_ci(a: Sequence[float], b: Sequence[float], samples: int = BOOTSTRAP_SAMPLES,
                      seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
  """CI of mean(a) - mean(b), a and b resampled independently."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  rng = np.random.default_rng(seed)
  ma = a[rng.integers(0, len(a), (samples, len(a)))].mean(1)
  mb = b[rng.integers(0, len(b), (samples, len(b)))].mean(1)
  lo, hi = np.percentile(ma - mb, [2.5, 97.5])
  return float(lo), float(hi)


def summarize(x: Sequence[float]) -> dict:
  x = [v for v in x if not math.isnan(v)]
  if not x:
    return {"n": 0, "mean": math.nan, "std": math.nan, "ci": (math.nan, math.nan)}
  arr = np.asarray(x, np.float64)
  # One seed has no spread: its std and CI are '-' (a bootstrap of one value is that value).
  one = len(x) < 2
  return {"n": len(x), "mean": float(arr.mean()),
          "std": math.nan if one else float(arr.std(ddof=1)),
          "ci": (math.nan, math.nan) if one else bootstrap_ci(arr)}


def metric_value(res: Mapping, metric: str, kind: str) -> float:
  """One number of a results.json: wall_time_s, or `metric` from its final/best/train row,
  its first evaluation ('start') or final minus first ('gain')."""
  if metric == "wall_time_s":
    return float(res.get("wall_time_s", math.nan))
  if kind in ("start", "gain"):
    history = res.get("history") or [{}]
    start = float(history[0].get(metric, math.nan))
    return start if kind == "start" else metric_value(res, metric, "final") - start
  return float(res.get(kind, {}).get(metric, math.nan))


def collect(workdir, others: Sequence = ()) -> tuple[dict, dict[str, list[tuple[int, dict]]]]:
  """(sweep.json, point -> [(seed, results)]) over the finished runs; each run of the
  returned sweep carries its folder ('dir'). `others`: more sweep workdirs whose points join
  (a point name twice is an error naming both folders); the sweep's own fields stay DIR's."""
  workdir = pathlib.Path(workdir)
  path = workdir / "sweep.json"
  if not path.is_file():
    raise ValueError(f"{path} not found: not a sweep workdir (experiments/sweep_main.py)")
  sweep = json.loads(path.read_text())
  by_point: dict[str, list[tuple[int, dict]]] = {p: [] for p in sweep["points"]}
  owner = {p: workdir for p in sweep["points"]}
  for run in sweep["runs"]:
    run["dir"] = str(workdir / run["name"])
    if results_lib.is_finished(workdir / run["name"]):
      by_point[run["point"]].append((run["seed"], results_lib.read(workdir / run["name"])))
  sweep["with"] = []
  for other in others:
    other = pathlib.Path(other)
    more, more_points = collect(other)
    for p in more_points:
      if p in by_point:
        raise ValueError(f"--with {other}: point {p!r} is also a point of {owner[p]}")
      owner[p] = other
    by_point.update(more_points)
    sweep["runs"] += more["runs"]
    sweep["points"] = list(sweep["points"]) + list(more_points)
    sweep["with"].append({"dir": str(other), "name": more["name"], "main": more["main"],
                          "config": more["config"], "points": list(more_points)})
  return sweep, by_point


def _fmt(v: float) -> str:
  return "-" if math.isnan(v) else f"{v:.4g}"


def _label(metric: str, kind: str) -> str:
  return metric if metric == "wall_time_s" else f"{kind} {metric}"


def table(sweep: Mapping, by_point: Mapping[str, list], baseline: str = "") -> str:
  """The markdown of results.md."""
  metrics = [tuple(m) for m in sweep["metrics"]]
  head = ["point", "seeds"] + [_label(m, k) for m, k in metrics]
  lines = [f"# Sweep {sweep['name']}", "",
           f"Mean +- std over seeds, [95% bootstrap CI of the mean]; {sweep['main']} runs of "
           f"`{sweep['config']}`.", ""]
  for w in sweep.get("with", []):
    lines[-1:-1] = [f"With the points {', '.join(w['points'])} of sweep {w['name']} "
                    f"({w['main']} runs of `{w['config']}`).", ""]
  lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  values = {p: {(m, k): [metric_value(r, m, k) for _, r in runs] for m, k in metrics}
            for p, runs in by_point.items()}
  for p, runs in by_point.items():
    cells = [p, str(len(runs))]
    for mk in metrics:
      s = summarize(values[p][mk])
      cells.append("-" if not s["n"] else
                   f"{_fmt(s['mean'])} +- {_fmt(s['std'])} [{_fmt(s['ci'][0])}, "
                   f"{_fmt(s['ci'][1])}]")
    lines.append("| " + " | ".join(cells) + " |")
  if baseline:
    lines += ["", f"Difference to the baseline `{baseline}` (mean of point - mean of baseline), "
              "[95% bootstrap CI]:", "", "| " + " | ".join(["point"] + head[2:]) + " |",
              "|" + "---|" * (len(head) - 1)]
    for p in by_point:
      if p == baseline:
        continue
      cells = [p]
      for mk in metrics:
        a = [v for v in values[p][mk] if not math.isnan(v)]
        b = [v for v in values[baseline][mk] if not math.isnan(v)]
        if not a or not b:
          cells.append("-")
          continue
        lo, hi = bootstrap_diff_ci(a, b) if min(len(a), len(b)) > 1 else (math.nan, math.nan)
        d = float(np.mean(np.asarray(a, np.float64)) - np.mean(np.asarray(b, np.float64)))
        cells.append(f"{'+' if d >= 0 else ''}{_fmt(d)} [{_fmt(lo)}, {_fmt(hi)}]")
      lines.append("| " + " | ".join(cells) + " |")
  if baseline:
    lines += paired_table(by_point, baseline, metrics)
  if any(m == "wall_time_s" for m, _ in metrics):
    lines += ["", "wall_time_s: seconds of a run's last invocation (a run resumed after an "
              "interruption counts only the part after its restart)."]
  missing = [r["name"] for r in sweep["runs"]
             if all(r["seed"] != s for s, _ in by_point[r["point"]])]
  if missing:
    lines += ["", f"Unfinished runs (not counted): {', '.join(missing)}"]
  return "\n".join(lines) + "\n"


def paired_table(by_point: Mapping[str, list], baseline: str, metrics) -> list[str]:
  """Markdown lines: each point minus the baseline seed by seed, over the seeds both have.
  Runs of one seed share its randomness (in the committed sweeps: the warm start, the data
  order), so the per-seed difference removes the seed-to-seed spread the unpaired CI carries.
  The CI is the percentile bootstrap of the mean difference, resampling seeds."""
  base = {seed: res for seed, res in by_point[baseline]}
  lines = ["", f"Paired difference to `{baseline}`: mean over the seeds both ran of (point - "
           "baseline) at the same seed, [95% bootstrap CI over seeds]:", "",
           "| " + " | ".join(["point", "seeds"] + [_label(m, k) for m, k in metrics]) + " |",
           "|" + "---|" * (len(metrics) + 2)]
  rows = 0
  for p, runs in by_point.items():
    common = [(seed, res) for seed, res in runs if seed in base]
    if p == baseline or len(common) < 2:
      continue
    cells = [p, ",".join(str(seed) for seed, _ in common)]
    for m, k in metrics:
      d = [metric_value(res, m, k) - metric_value(base[seed], m, k) for seed, res in common]
      d = [v for v in d if not math.isnan(v)]
      if len(d) < 2:
        cells.append("-")
        continue
      lo, hi = bootstrap_ci(d)
      mean = float(np.mean(np.asarray(d, np.float64)))
      cells.append(f"{'+' if mean >= 0 else ''}{_fmt(mean)} [{_fmt(lo)}, {_fmt(hi)}]")
    lines.append("| " + " | ".join(cells) + " |")
    rows += 1
  return lines if rows else []


def _curve(run_dir: pathlib.Path, metric: str) -> dict[int, float]:
  """step -> value of one run's metrics.jsonl (the last row of a step wins; warm-up SFT rows,
  logged at negative steps, are left out)."""
  path = run_dir / results_lib.JSONL_NAME
  out: dict[int, float] = {}
  if path.is_file():
    for r in results_lib.read_jsonl(path):
      if metric in r and int(r["step"]) >= 0 and not math.isnan(float(r[metric])):
        out[int(r["step"])] = float(r[metric])
  return out


def plot(workdir, sweep: Mapping, by_point: Mapping[str, list], out_png) -> pathlib.Path | None:
  """curves.png: a panel per curve metric, a line per point (mean over seeds, +-std band)."""
  from r1jax.eval import plots  # pylint: disable=g-import-not-at-top
  plt = plots.pyplot()
  workdir = pathlib.Path(workdir)
  names = {(r["point"], r["seed"]): r.get("dir", r["name"]) for r in sweep["runs"]}
  keys = list(sweep.get("curves", []))
  if not keys:
    return None
  fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.8 * len(keys)), sharex=True,
                           squeeze=False)
  for ax, key in zip(axes[:, 0], keys):
    for p, runs in by_point.items():
      curves = [_curve(workdir / names[(p, s)], key) for s, _ in runs]
      curves = [c for c in curves if c]
      if not curves:
        continue
      steps = sorted(set.intersection(*(set(c) for c in curves)))  # Steps every seed logged.
      if not steps:
        continue
      y = np.asarray([[c[s] for s in steps] for c in curves], np.float64)
      mean = y.mean(0)
      line, = ax.plot(steps, mean, label=f"{p} (n={len(curves)})",
                      marker="." if len(steps) < 30 else None)
      if len(curves) > 1:
        std = y.std(0, ddof=1)
        ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
  axes[0, 0].legend(fontsize=7)
  axes[0, 0].set_title(f"{sweep['name']}: mean over seeds, band +-1 std")
  axes[-1, 0].set_xlabel("step")
  return plots._save(fig, out_png)  # pylint: disable=protected-access


def plot_points(sweep: Mapping, by_point: Mapping[str, list], out_png) -> pathlib.Path | None:
  """points.png: the sweep's first metric per point, one dot per seed, the mean with its 95%
  bootstrap CI as an error bar (the figure of a comparison that has no per-step curves)."""
  from r1jax.eval import plots  # pylint: disable=g-import-not-at-top
  plt = plots.pyplot()
  metric, kind = sweep["metrics"][0]
  rows = [(p, [metric_value(r, metric, kind) for _, r in runs]) for p, runs in by_point.items()]
  rows = [(p, [v for v in x if not math.isnan(v)]) for p, x in rows]
  rows = [(p, x) for p, x in rows if x]
  if not rows:
    return None
  fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(rows)), 3.4))
  for i, (p, x) in enumerate(rows):
    s = summarize(x)
    ax.scatter([i] * len(x), x, s=14, color="0.55", zorder=2)
    if s["n"] > 1:
      lo, hi = s["ci"]
      ax.errorbar([i], [s["mean"]], yerr=[[s["mean"] - lo], [hi - s["mean"]]], fmt="o",
                  color="C0", capsize=4, zorder=3)
    else:
      ax.plot([i], [s["mean"]], "o", color="C0", zorder=3)
  ax.set_xticks(range(len(rows)))
  ax.set_xticklabels([p for p, _ in rows], rotation=30, ha="right", fontsize=8)
  ax.set_ylabel(_label(metric, kind))
  ax.grid(alpha=0.3, axis="y")
  ax.set_title(f"{sweep['name']}: seeds (grey), mean and 95% bootstrap CI", fontsize=9)
  return plots._save(fig, out_png)  # pylint: disable=protected-access


def aggregate(workdir, baseline: str | None = None, others: Sequence = (),
              metrics: Sequence[str] = ()) -> str:
  """Writes DIR/results.md, DIR/points.png and DIR/curves.png from the finished runs (of DIR
  and `others`); returns the markdown. `metrics` ('name:kind' each) replace the sweep's."""
  workdir = pathlib.Path(workdir)
  sweep, by_point = collect(workdir, others)
  if metrics:
    from r1jax.sweep import spec  # pylint: disable=g-import-not-at-top
    pairs = [tuple(m.rsplit(":", 1)) for m in metrics]
    bad = [m for m, p in zip(metrics, pairs) if len(p) != 2 or p[1] not in spec.METRIC_KINDS]
    if bad:
      raise ValueError(f"--metric {bad[0]!r}: give name:kind, kind one of {spec.METRIC_KINDS}")
    sweep["metrics"] = [list(p) for p in pairs]
  baseline = sweep.get("baseline", "") if baseline is None else baseline
  if baseline and baseline not in by_point:
    raise ValueError(f"--baseline: {baseline!r} is not a point of {workdir / 'sweep.json'}; "
                     f"points: {list(by_point)}")
  md = table(sweep, by_point, baseline)
  (workdir / RESULTS_MD).write_text(md)
  plot_points(sweep, by_point, workdir / POINTS_PNG)
  plot(workdir, sweep, by_point, workdir / CURVES_PNG)
  return md


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m r1jax.eval.compare",
                                   description="Re-aggregate a sweep workdir.")
  parser.add_argument("workdir")
  parser.add_argument("--baseline", default=None, help="point to take differences against "
                      "(default: the sweep's)")
  parser.add_argument("--with", dest="others", action="append", default=[], metavar="DIR",
                      help="another sweep workdir whose points join the table (repeatable)")
  parser.add_argument("--metric", dest="metrics", action="append", default=[],
                      metavar="NAME:KIND", help="report this metric instead of the sweep's "
                      "(repeatable; kind final, best, train, start or gain)")
  args = parser.parse_args(argv)
  return print_or_fail(aggregate, args.workdir, args.baseline, args.others, args.metrics)


def print_or_fail(fn, *args) -> int:
  """Prints fn(*args) and returns 0; a ValueError (a bad workdir or option) is one line on
  stderr and status 2. The report commands' common end."""
  try:
    print(fn(*args))
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
