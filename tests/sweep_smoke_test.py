"""The smoke variant of every committed sweep through experiments/sweep_main.py (real RL runs,
slow: minutes each on a 2-core CPU): every run finishes, a re-run skips them all, and a sweep
killed mid-run completes on a re-run with the results of an uninterrupted sweep."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from r1jax import results
from r1jax.sweep import spec

REPO = pathlib.Path(__file__).resolve().parents[1]
SWEEPS = sorted((REPO / "experiments" / "sweeps").glob("*.py"))


def _sweep_main(sweep, workdir, kill_run=None):
  """Runs sweep_main; with kill_run, SIGKILLs the whole job once that run has a checkpoint
  after its first RL step (so it dies mid-run with something to resume)."""
  cmd = [sys.executable, str(REPO / "experiments" / "sweep_main.py"), f"--sweep={sweep}",
         f"--workdir={workdir}"]
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=REPO, env=env, start_new_session=True)
  if kill_run is not None:
    marker = pathlib.Path(workdir) / kill_run / "checkpoints" / "1"
    deadline = time.time() + 900
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
      time.sleep(0.2)
    assert proc.poll() is None, proc.stdout.read()[-4000:]
    os.killpg(proc.pid, signal.SIGKILL)
  out, _ = proc.communicate(timeout=1800)
  return proc.returncode, out


@pytest.mark.slow
@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_smoke_runs_then_rerun_skips_everything(path, tmp_path):
  rc, log = _sweep_main(f"{path}:smoke", tmp_path)
  assert rc == 0, log[-4000:]
  runs = spec.expand(spec.load(f"{path}:smoke")[0])
  assert all(results.is_finished(tmp_path / r.name) for r in runs)
  # Every eval logged its completions table (samples.jsonl beside TensorBoard's text).
  rows = (tmp_path / runs[0].name / "samples.jsonl").read_text().splitlines()
  assert {json.loads(l)["step"] for l in rows} == {0, 1, 2}
  md = (tmp_path / "results.md").read_text()
  assert all(f"| {r.point} | 2 |" in md for r in runs) and (tmp_path / "curves.png").is_file()
  rc, log = _sweep_main(f"{path}:smoke", tmp_path)
  assert rc == 0 and log.count("finished, skipped") == len(runs), log[-4000:]
  assert f"0 finished, {len(runs)} skipped, 0 failed" in log


@pytest.mark.slow
def test_killed_smoke_sweep_completes_with_identical_results(tmp_path):
  sweep = f"{REPO / 'experiments' / 'sweeps' / 'kl.py'}:smoke"
  rc, log = _sweep_main(sweep, tmp_path / "straight")
  assert rc == 0, log[-4000:]
  rc, _ = _sweep_main(sweep, tmp_path / "killed", kill_run="beta-0.seed-1")
  assert rc == -signal.SIGKILL
  assert not results.is_finished(tmp_path / "killed" / "beta-0.seed-1")
  rc, log = _sweep_main(sweep, tmp_path / "killed")
  assert rc == 0 and "3 skipped" in log, log[-4000:]
  assert "Resumed from" in (tmp_path / "killed" / "beta-0.seed-1" / "log.txt").read_text()
  for r in spec.expand(spec.load(sweep)[0]):
    a, b = (results.read(tmp_path / d / r.name) for d in ("straight", "killed"))
    for key in ("final", "best", "history", "train"):
      assert a[key] == b[key], (r.name, key)
