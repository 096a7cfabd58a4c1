"""PNG curves for training runs and evaluations (matplotlib, headless Agg backend).

  plot_curves(read_jsonl(workdir / "metrics.jsonl"), ["reward/mean", "eval/accuracy"], "curves.png")
  plot_budget_curve([256, 512, 1024], [0.31, 0.42, 0.47], "budget.png")
  plot_scaling_curve([1, 2, 4, 8], {"maj@k": [...], "pass@k": [...]}, "scaling.png")
"""
from __future__ import annotations

import functools
import math
import pathlib
from typing import Any, Mapping, Sequence


@functools.cache  # The backend is chosen once per process, as an import-time choice would be.
def pyplot():
  """matplotlib.pyplot on the headless Agg backend, imported on first use: importing it costs
  ~0.9 CPU-s, and most processes that import this module (evaluations, sweep parents, SFT)
  never plot."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")  # Before pyplot: no display on training hosts.
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _save(fig, out_png) -> pathlib.Path:
  out = pathlib.Path(out_png)
  out.parent.mkdir(parents=True, exist_ok=True)
  fig.tight_layout()
  fig.savefig(out, format="png", dpi=100)
  pyplot().close(fig)
  return out


def plot_curves(records: Sequence[Mapping[str, Any]], keys: Sequence[str], out_png,
                title: str = "") -> pathlib.Path:
  """One panel per key of value vs step, from metric records (`train.metrics.read_jsonl` reads
  a metrics.jsonl; this module stays free of the trainer's imports).

  Records lacking a key (or holding NaN for it) are skipped for that key only.
  """
  records = list(records)
  if not keys:
    raise ValueError("plot_curves: no keys to plot")
  for i, r in enumerate(records):
    if "step" not in r:
      raise ValueError(f"plot_curves: record {i} has no 'step'")
  fig, axes = pyplot().subplots(len(keys), 1, figsize=(7, 2.6 * len(keys)), sharex=True, squeeze=False)
  for ax, key in zip(axes[:, 0], keys):
    points = [(r["step"], float(r[key])) for r in records if key in r]
    points = [(s, v) for s, v in points if not math.isnan(v)]
    if not points:
      pyplot().close(fig)
      raise ValueError(f"plot_curves: no finite values for key {key!r}")
    steps, values = zip(*sorted(points))
    ax.plot(steps, values, marker="." if len(steps) < 50 else None)
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
  axes[-1, 0].set_xlabel("step")
  if title:
    axes[0, 0].set_title(title)
  return _save(fig, out_png)


def plot_budget_curve(budgets: Sequence[float], accuracies: Sequence[float], out_png,
                      title: str = "Accuracy vs thinking budget") -> pathlib.Path:
  """Accuracy against thinking tokens (budgets or the tokens actually used), log2 x-axis."""
  if len(budgets) != len(accuracies) or not budgets:
    raise ValueError(f"plot_budget_curve: {len(budgets)} budgets vs {len(accuracies)} accuracies")
  order = sorted(range(len(budgets)), key=lambda i: budgets[i])
  xs = [budgets[i] for i in order]
  fig, ax = pyplot().subplots(figsize=(6, 4))
  ax.plot(xs, [accuracies[i] for i in order], marker="o")
  ax.set_xscale("log", base=2)
  ax.set_xticks(xs, [f"{x:g}" for x in xs])  # the budgets themselves, not powers of two
  ax.set_xlabel("thinking tokens")
  ax.set_ylabel("accuracy")
  ax.set_title(title)
  ax.grid(alpha=0.3)
  return _save(fig, out_png)


def plot_scaling_curve(ks: Sequence[int], values: Mapping[str, Sequence[float]], out_png,
                       title: str = "Scaling with samples") -> pathlib.Path:
  """One line per series (e.g. "maj@k", "pass@k") against k, log2 x-axis."""
  if not values:
    raise ValueError("plot_scaling_curve: no series")
  fig, ax = pyplot().subplots(figsize=(6, 4))
  for name, ys in values.items():
    if len(ys) != len(ks):
      pyplot().close(fig)
      raise ValueError(f"plot_scaling_curve: series {name!r} has {len(ys)} values "
                       f"for {len(ks)} ks")
    ax.plot(ks, ys, marker="o", label=name)
  ax.set_xscale("log", base=2)
  ax.set_xticks(list(ks), [str(k) for k in ks])
  ax.set_xlabel("k (samples)")
  ax.set_ylabel("accuracy")
  ax.set_title(title)
  ax.legend()
  ax.grid(alpha=0.3)
  return _save(fig, out_png)
