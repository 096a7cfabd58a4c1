"""scaling_report: the k and budget curves of a sweep of eval runs, against a hand computation."""
import json
import statistics

import pytest

from r1jax import results
from r1jax.eval import compare, scaling_report

TASK = "arith/test"


def _outcome(maj, pass_, acc):
  return [{"task": TASK,
           "k_sweep": [{"k": k, "maj@k": m, "pass@k": p} for k, m, p in zip((1, 4), maj, pass_)],
           "budget_sweep": [{"budget": b, "accuracy": a, "thinking_mean": b * 0.9, "tokens": b + 5}
                            for b, a in zip((7, 19), acc)]}]


def _sweep_dir(tmp_path, runs):
  points = sorted({p for p, _, _ in runs})
  (tmp_path / "sweep.json").write_text(json.dumps({
      "name": "t", "points": points, "metrics": [], "curves": [],
      "runs": [{"name": f"{p}.seed-{s}", "point": p, "seed": s} for p, s, _ in runs]}))
  for p, s, outcome in runs:
    d = tmp_path / f"{p}.seed-{s}"
    d.mkdir()
    results.write(d, "eval", outcome)
  return tmp_path


def test_report_matches_a_hand_computation(tmp_path):
  runs = [("cap", 0, _outcome((0.5, 0.6), (0.5, 0.8), (0.1, 0.6))),
          ("cap", 1, _outcome((0.7, 0.7), (0.7, 0.9), (0.2, 0.7))),
          ("cap", 2, _outcome((0.6, 0.8), (0.6, 1.0), (0.0, 0.8))),
          ("force", 0, _outcome((0.5, 0.6), (0.5, 0.8), (0.3, 0.5)))]
  md = scaling_report.report(_sweep_dir(tmp_path, runs), TASK)
  c = scaling_report.curves(compare.collect(tmp_path)[1], TASK)
  maj4 = [0.6, 0.7, 0.8]
  s = c["cap"]["k"][4]["maj@k"]
  assert s["n"] == 3 and s["mean"] == pytest.approx(statistics.mean(maj4))
  assert s["std"] == pytest.approx(statistics.stdev(maj4))
  assert s["ci"] == pytest.approx(compare.bootstrap_ci(maj4))
  assert c["cap"]["budget"][19]["accuracy"]["mean"] == pytest.approx(0.7)
  assert c["cap"]["budget"][7]["thinking_mean"]["mean"] == pytest.approx(6.3)
  assert c["force"]["budget"][7]["accuracy"]["n"] == 1  # One run: no spread shown.
  lo, hi = compare.bootstrap_ci(maj4)
  assert f"| 4 | 0.900 +- 0.100 [" in md and f"0.700 +- 0.100 [{lo:.3f}, {hi:.3f}] |" in md
  assert "## force (n=1)" in md and "| 7 | 0.300 | 6.300 | 12.000 |" in md
  assert (tmp_path / scaling_report.SCALING_PNG).is_file()


def test_a_run_without_the_task_is_named(tmp_path):
  _sweep_dir(tmp_path, [("cap", 0, _outcome((0.5, 0.6), (0.5, 0.8), (0.1, 0.6)))])
  assert scaling_report.main([str(tmp_path), "--task", "gsm8k/test"]) == 2
