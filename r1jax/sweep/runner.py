"""Runs a sweep's runs as subprocesses of their main, N at a time; skips finished runs.

Each run gets `<workdir>/<run>/` (the main's own workdir: config.json, metrics.jsonl,
results.json, checkpoints) plus `sweep_run.json` (its overrides and command) and `log.txt`.
A run is finished when its results.json says so (r1jax/results.py): a re-run of the sweep
skips it, and an unfinished one is started again with the same command, which resumes from
its last checkpoint. The runner is a thin driver: the same command line is what the SLURM
array job (launch/slurm_sweep.sh) and the TPU VM script run for one run.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Callable, Sequence

from r1jax import results
from r1jax.sweep import spec

SWEEP_FILE = "sweep.json"
RUN_FILE = "sweep_run.json"
LOG_FILE = "log.txt"


def flag_value(value) -> str:
  """A config override as ml_collections' config_flags parses it."""
  if isinstance(value, bool):
    return "True" if value else "False"
  if isinstance(value, (list, tuple)):
    return repr(tuple(value))
  if isinstance(value, float):
    return repr(value)
  return str(value)


def command(sweep: spec.Sweep, run: spec.Run, workdir, python: str = sys.executable,
            extra: Sequence[str] = ()) -> list[str]:
  """The main's command line for one run (what --dry_run prints); `extra` flags go last
  (machine settings such as --config.distributed.enabled=on: not part of the run's identity)."""
  path, _, arg = sweep.config.partition(":")
  config = str(spec.REPO / path) + (f":{arg}" if arg else "")
  return [python, str(spec.main_path(sweep.main)), f"--config={config}",
          f"--workdir={pathlib.Path(workdir) / run.name}",
          *[f"--config.{k}={flag_value(v)}" for k, v in run.overrides.items()], *extra]


def describe(sweep: spec.Sweep, name: str, runs: Sequence[spec.Run]) -> dict:
  """sweep.json: what the aggregator needs to know about the sweep without its file."""
  return {"name": name, "main": sweep.main, "config": sweep.config,
          "baseline": sweep.baseline, "seeds": list(sweep.seeds),
          "metrics": [list(m) for m in sweep.metrics], "curves": list(sweep.curves),
          "points": list(dict.fromkeys(r.point for r in runs)),
          "runs": [{"name": r.name, "point": r.point, "seed": r.seed,
                    "overrides": dict(r.overrides)} for r in runs]}


def _record(run: spec.Run, cmd: list[str]) -> dict:
  return {"name": run.name, "overrides": json.loads(json.dumps(dict(run.overrides))),
          "command": cmd}


def _check_claim(run_dir: pathlib.Path, run: spec.Run) -> None:
  """A directory made by a different run definition is refused, finished or not (a changed
  sweep must not silently mix old and new results, nor skip runs it never made)."""
  path = run_dir / RUN_FILE
  if path.is_file():
    old = json.loads(path.read_text())
    if old.get("overrides") != _record(run, [])["overrides"]:
      raise spec.SweepError(f"{path}: this run was started with other overrides "
                            f"({old.get('overrides')}); use a new --workdir or delete it")


def _claim(run_dir: pathlib.Path, run: spec.Run, cmd: list[str]) -> None:
  run_dir.mkdir(parents=True, exist_ok=True)
  (run_dir / RUN_FILE).write_text(json.dumps(_record(run, cmd), indent=2))


def _env(workdir: pathlib.Path) -> dict:
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  # Runs of a sweep share shapes: a persistent compilation cache makes all but the first
  # compile of each point a lookup (a tiny run drops from ~90 s to ~25 s on a 2-core CPU).
  env.setdefault("JAX_COMPILATION_CACHE_DIR", str(workdir / ".jax_cache"))
  env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
  env.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
  # The repository on the path: the mains import r1jax from their checkout.
  env["PYTHONPATH"] = os.pathsep.join(p for p in (str(spec.REPO), env.get("PYTHONPATH", ""))
                                      if p)
  return env


@dataclasses.dataclass
class Outcome:
  finished: list[str]
  skipped: list[str]
  failed: list[tuple[str, int, str]]  # (run, exit status, log file)


def run_sweep(sweep: spec.Sweep, name: str, workdir, parallel: int = 1, dry_run: bool = False,
              only: Sequence[int] | None = None, python: str = sys.executable,
              extra: Sequence[str] = (), log: Callable[[str], object] = print) -> Outcome:
  """Runs every unfinished run (or the runs at indices `only`); returns what happened."""
  if parallel < 1:
    raise spec.SweepError(f"--parallel must be >= 1, got {parallel}")
  runs = spec.expand(sweep)  # Every check before the first run starts.
  workdir = pathlib.Path(workdir).resolve()
  if only is not None:
    bad = [i for i in only if not 0 <= i < len(runs)]
    if bad:
      raise spec.SweepError(f"--run_index {bad} out of range: the sweep has {len(runs)} runs")
  todo = [runs[i] for i in only] if only is not None else runs
  cmds = {r.name: command(sweep, r, workdir, python, extra) for r in todo}
  if dry_run:
    import shlex  # pylint: disable=g-import-not-at-top
    for r in todo:
      log(shlex.join(cmds[r.name]))
    return Outcome([], [], [])
  for r in todo:  # Every directory checked before anything is written or started.
    _check_claim(workdir / r.name, r)
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / SWEEP_FILE).write_text(json.dumps(describe(sweep, name, runs), indent=2))
  out = Outcome([], [], [])
  pending = []
  for r in todo:
    if results.is_finished(workdir / r.name):
      log(f"run {r.name}: finished, skipped")
      out.skipped.append(r.name)
    else:
      _claim(workdir / r.name, r, cmds[r.name])
      pending.append(r)
  env = _env(workdir)
  active: dict[str, tuple[subprocess.Popen, float, object]] = {}
  total, started = len(pending), 0

  def stop_children(signum, frame):  # A stopped sweep stops its runs (they checkpoint).
    del frame
    for proc, _, _ in active.values():
      proc.send_signal(signal.SIGTERM)
    for proc, _, _ in active.values():
      proc.wait()
    raise SystemExit(128 + signum)

  old = {s: signal.signal(s, stop_children) for s in (signal.SIGTERM, signal.SIGINT)}
  try:
    while pending or active:
      while pending and len(active) < parallel:
        r = pending.pop(0)
        started += 1
        log(f"run {r.name}: started ({started}/{total})")
        f = open(workdir / r.name / LOG_FILE, "a", encoding="utf-8")
        proc = subprocess.Popen(cmds[r.name], stdout=f, stderr=subprocess.STDOUT, env=env,
                                cwd=spec.REPO)
        active[r.name] = (proc, time.time(), f)
      time.sleep(0.2)
      for rname, (proc, t0, f) in list(active.items()):
        if proc.poll() is None:
          continue
        f.close()
        del active[rname]
        if proc.returncode == 0 and results.is_finished(workdir / rname):
          log(f"run {rname}: finished in {time.time() - t0:.0f} s")
          out.finished.append(rname)
        else:
          path = workdir / rname / LOG_FILE
          log(f"run {rname}: FAILED (exit {proc.returncode}); log: {path}")
          out.failed.append((rname, proc.returncode, str(path)))
  finally:
    for s, h in old.items():
      signal.signal(s, h)
  return out
