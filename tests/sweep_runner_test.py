"""The sweep runner and aggregation on a seconds-long toy main (tests/fixtures/sweep/):
parallel runs, skip on re-run, resume after a kill, results.md against a hand computation."""
import json
import math
import os
import pathlib
import signal
import statistics
import subprocess
import sys

import numpy as np
import pytest

from r1jax import results
from r1jax.eval import compare
from r1jax.sweep import runner, spec

REPO = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = "tests/fixtures/sweep"
SEEDS = (0, 1, 2)


def _sweep(step_seconds=0.0, rate_b=0.25):
  rate = spec.axis("rate", {"a": {"rate": 0.1}, "b": {"rate": rate_b}})
  return spec.Sweep(config=f"{FIXTURES}/toy_config.py", main=f"{FIXTURES}/toy_main.py",
                    axes=rate, seeds=SEEDS, baseline="rate-a",
                    overrides={"step_seconds": step_seconds},
                    metrics=(("eval/pass@1", "final"), ("eval/pass@1", "best"),
                             ("eval/length", "final")),
                    curves=("eval/pass@1",))


def _hand_ci(x, shift=None):
  """The 95% percentile bootstrap written out with Python floats (same generator draws)."""
  rng = np.random.default_rng(compare.BOOTSTRAP_SEED)
  B = compare.BOOTSTRAP_SAMPLES

  def draw(v):
    rows = rng.integers(0, len(v), (B, len(v))).tolist()
    return [sum(v[j] for j in row) / len(v) for row in rows]

  means = draw(x)
  if shift is not None:
    means = [a - b for a, b in zip(means, draw(shift))]
  means.sort()

  def pct(q):
    pos = q / 100 * (B - 1)
    lo = math.floor(pos)
    return means[lo] + (means[min(lo + 1, B - 1)] - means[lo]) * (pos - lo)

  return pct(2.5), pct(97.5)


def _cells(md, first):
  for line in md.splitlines():
    cells = [c.strip() for c in line.strip("|").split("|")]
    if cells[0] == first:
      yield cells


def test_sweep_runs_skips_and_matches_a_hand_computation(tmp_path):
  out = runner.run_sweep(_sweep(), "toy", tmp_path, parallel=2, log=lambda s: None)
  assert len(out.finished) == 6 and not out.failed
  md = compare.aggregate(tmp_path)
  assert (tmp_path / "results.md").read_text() == md and (tmp_path / "curves.png").is_file()

  # Hand computation from the runs' results.json.
  g = lambda v: f"{v:.4g}"
  vals = {}
  for point in ("rate-a", "rate-b"):
    runs = [json.loads((tmp_path / f"{point}.seed-{s}" / "results.json").read_text())
            for s in SEEDS]
    vals[point] = {"final": [r["final"]["eval/pass@1"] for r in runs],
                   "best": [max(h["eval/pass@1"] for h in r["history"]) for r in runs],
                   "len": [r["final"]["eval/length"] for r in runs]}
    (row,) = [c for c in _cells(md, point) if len(c) == 5 and c[1] == "3"]
    for cell, x in zip(row[2:], (vals[point]["final"], vals[point]["best"], vals[point]["len"])):
      lo, hi = _hand_ci(x)
      assert cell == f"{g(statistics.mean(x))} +- {g(statistics.stdev(x))} [{g(lo)}, {g(hi)}]"
  # rate 0.25 vs 0.1 over 3 steps: final pass@1 differs by exactly 0.45.
  (diff,) = [c for c in _cells(md, "rate-b") if len(c) == 4]
  a, b = vals["rate-b"]["final"], vals["rate-a"]["final"]
  lo, hi = _hand_ci(a, shift=b)
  d = statistics.mean(a) - statistics.mean(b)
  assert abs(d - 0.45) < 1e-9 and diff[1] == f"+{g(d)} [{g(lo)}, {g(hi)}]"
  # Paired: seed by seed, then the bootstrap of the mean difference over seeds.
  (paired,) = [c for c in _cells(md, "rate-b") if len(c) == 5 and c[1] == "0,1,2"]
  per_seed = [x - y for x, y in zip(a, b)]
  lo, hi = _hand_ci(per_seed)
  assert paired[2] == f"+{g(statistics.mean(per_seed))} [{g(lo)}, {g(hi)}]"

  before = {p.parent.name: p.read_bytes() for p in tmp_path.glob("*/results.json")}
  lines = []
  out = runner.run_sweep(_sweep(), "toy", tmp_path, parallel=2, log=lines.append)
  assert sorted(out.skipped) == sorted(before) and not out.finished
  assert all(l.endswith("finished, skipped") for l in lines)
  assert {p.parent.name: p.read_bytes() for p in tmp_path.glob("*/results.json")} == before

  # A changed sweep in the same workdir is refused before anything runs (finished runs of
  # the old definition are not skipped as if they were the new one's).
  (tmp_path / "rate-b.seed-2" / "results.json").unlink()
  sweep_json = (tmp_path / "sweep.json").read_text()
  with pytest.raises(spec.SweepError, match="rate-b.seed-0.*other overrides"):
    runner.run_sweep(_sweep(rate_b=0.3), "toy", tmp_path, log=lambda s: None)
  assert not (tmp_path / "rate-b.seed-2" / "results.json").exists()
  assert (tmp_path / "sweep.json").read_text() == sweep_json


def test_compare_cli_reaggregates_with_another_baseline(tmp_path):
  runner.run_sweep(_sweep(), "toy", tmp_path, parallel=3, log=lambda s: None)
  run = lambda *a: subprocess.run([sys.executable, "-m", "r1jax.eval.compare", str(tmp_path),
                                   *a], capture_output=True, text=True, cwd=REPO)
  out = run("--baseline=rate-b")
  assert out.returncode == 0, out.stderr
  assert "baseline `rate-b`" in (tmp_path / "results.md").read_text()
  unpaired, paired = list(_cells(out.stdout, "rate-a"))[-2:]
  assert unpaired[1].startswith("-0.45 ") and paired[2].startswith("-0.45 [")
  bad = run("--baseline=rate-z")
  assert bad.returncode == 2 and "rate-z" in bad.stderr
  out = run("--metric=eval/pass@1:gain", "--metric=eval/pass@1:start")
  assert out.returncode == 0, out.stderr
  assert "| point | seeds | gain eval/pass@1 | start eval/pass@1 |" in out.stdout
  bad = run("--metric=eval/pass@1")
  assert bad.returncode == 2 and "give name:kind" in bad.stderr


def test_compare_with_another_sweep_joins_its_points(tmp_path):
  """--with: the other sweep's points get rows (the same statistics as in their own sweep)
  and differences against DIR's baseline; a point name in both is refused, naming both."""
  a, b = tmp_path / "a", tmp_path / "b"
  runner.run_sweep(_sweep(), "toy", a, parallel=3, log=lambda s: None)
  other = spec.Sweep(config=f"{FIXTURES}/toy_config.py", main=f"{FIXTURES}/toy_main.py",
                     axes=spec.axis("rate", {"c": {"rate": 0.3}}), seeds=SEEDS,
                     metrics=_sweep().metrics, curves=())
  runner.run_sweep(other, "other", b, parallel=3, log=lambda s: None)
  own = compare.aggregate(b)
  md = compare.aggregate(a, None, [b])
  (row,) = [c for c in _cells(md, "rate-c") if len(c) == 5 and c[1] == "3"]
  assert row == [c for c in _cells(own, "rate-c") if len(c) == 5][0]
  (diff,) = [c for c in _cells(md, "rate-c") if len(c) == 4]
  x = [json.loads((b / f"rate-c.seed-{s}" / "results.json").read_text())["final"]["eval/pass@1"]
       for s in SEEDS]
  y = [json.loads((a / f"rate-a.seed-{s}" / "results.json").read_text())["final"]["eval/pass@1"]
       for s in SEEDS]
  assert diff[1].startswith(f"+{statistics.mean(x) - statistics.mean(y):.4g} [")
  assert "points rate-c of sweep other" in md and (a / "points.png").is_file()
  with pytest.raises(ValueError, match=f"point 'rate-a' is also a point of {a}"):
    compare.aggregate(b, None, [a, a])


def _sweep_file(tmp_path, step_seconds):
  f = tmp_path / "toy_sweep.py"
  f.write_text("from r1jax.sweep.spec import Sweep, axis\n"
               "def get_sweep(arg=None):\n"
               f"  return Sweep(config='{FIXTURES}/toy_config.py', main='{FIXTURES}/toy_main.py',\n"
               "               axes=axis('rate', {'a': {'rate': 0.1}, 'b': {'rate': 0.2}}),\n"
               f"               seeds=(0, 1), overrides={{'step_seconds': {step_seconds}}},\n"
               "               baseline='rate-a')\n")
  return f


def _sweep_main(sweep_file, workdir, kill_on=None):
  cmd = [sys.executable, str(REPO / "experiments" / "sweep_main.py"), f"--sweep={sweep_file}",
         f"--workdir={workdir}"]
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=REPO, start_new_session=True, env=dict(os.environ,
                                                                     PYTHONUNBUFFERED="1"))
  out = []
  for line in proc.stdout:
    out.append(line)
    if kill_on and line.startswith(kill_on):
      os.killpg(proc.pid, signal.SIGKILL)  # The whole job dies, runs included (as a node loss).
      break
  proc.wait(timeout=300)
  return proc.returncode, "".join(out)


def test_killed_sweep_resumes_to_the_same_results(tmp_path):
  f = _sweep_file(tmp_path, 0.15)
  rc, _ = _sweep_main(f, tmp_path / "straight")
  assert rc == 0
  rc, _ = _sweep_main(f, tmp_path / "killed", kill_on="run rate-a.seed-1: started")
  assert rc == -signal.SIGKILL
  assert not results.is_finished(tmp_path / "killed" / "rate-a.seed-1")
  rc, log = _sweep_main(f, tmp_path / "killed")
  assert rc == 0, log
  assert log.count("finished, skipped") == 2 and "2 finished, 2 skipped, 0 failed" in log
  for run in ("rate-a.seed-0", "rate-a.seed-1", "rate-b.seed-0", "rate-b.seed-1"):
    a, b = (results.read(tmp_path / d / run) for d in ("straight", "killed"))
    for key in ("final", "best", "history", "train"):
      assert a[key] == b[key], (run, key)
  # The tables agree but for wall time (the last column of both).
  md = lambda d: [l.rsplit("|", 2)[0] if l.startswith("|") else l
                  for l in (tmp_path / d / "results.md").read_text().splitlines()]
  assert md("straight") == md("killed") and len(md("straight")) > 10


def test_overrides_of_every_kind_reach_the_main_unchanged(tmp_path):
  """Each override, written as a flag by the runner, parsed back by the main's config_flags."""
  overrides = {"stop": ("</answer>", "\n\n", "a b"), "name": "", "flag": False,
               "nested.depth": 3, "nested.ratio": 3e-4, "rate": 1}
  sweep = spec.Sweep(config=f"{FIXTURES}/toy_config.py", main=f"{FIXTURES}/toy_main.py",
                     overrides=overrides, seeds=(4,))
  out = runner.run_sweep(sweep, "kinds", tmp_path, log=lambda s: None)
  assert out.finished == ["base.seed-4"]
  c = json.loads((tmp_path / "base.seed-4" / "config.json").read_text())
  assert c["stop"] == list(overrides["stop"]) and c["name"] == "" and c["flag"] is False
  assert c["nested"] == {"depth": 3, "ratio": 3e-4} and c["seed"] == 4
  assert c["rate"] == 1.0 and isinstance(c["rate"], float)  # An int into a float field.


def test_start_and_gain_metric_kinds():
  res = {"final": {"eval/pass@1": 0.75}, "history": [{"eval/pass@1": 0.5}, {"eval/pass@1": 0.75}]}
  assert compare.metric_value(res, "eval/pass@1", "start") == 0.5
  assert compare.metric_value(res, "eval/pass@1", "gain") == 0.25
  assert math.isnan(compare.metric_value({"final": {}}, "eval/pass@1", "gain"))
  with pytest.raises(spec.SweepError, match="kind must be one of"):
    spec.expand(spec.Sweep(config=f"{FIXTURES}/toy_config.py", main=f"{FIXTURES}/toy_main.py",
                           metrics=(("eval/pass@1", "last"),)))
