"""One results format for every main: `<workdir>/results.json`, written when a run finishes.

  t0 = time.time()
  outcome = rl_trainer.train_and_evaluate(config, workdir)
  results.write(workdir, "rl", outcome, started=t0)

The file (format FORMAT) holds
  kind         rl, sft, rejection_sampling, expert_iteration or eval
  status       "finished" (the sweep runner skips a run whose results.json says so)
  final        metric -> float: the last evaluation (RL: the last eval row of metrics.jsonl)
  best         metric -> float: the maximum over evaluations of each metric
  history      [{"step": int, metric: float, ...}]: every evaluation, in step order
  train        metric -> float: the last training row of metrics.jsonl (loss, reward/total,
               ...; timings left out so that a resumed run's file equals a straight run's)
  wall_time_s  seconds this invocation of the main took (a resumed run counts its last part)
  outcome      what the main returned, made JSON-safe (the main's own summary)
Metric names are the ones the mains log (eval/pass@1, eval/maj@4, eval/length, ...), so one
aggregator (r1jax/eval/compare.py) reads every kind of run. Written on process 0 only, and
atomically (a killed run never leaves a half-written results.json that looks finished).
"""
from __future__ import annotations

import json
import math
import os
import pathlib
import sys
import time
from typing import Any, Mapping

FORMAT = "r1jax.results/1"
# The step-indexed metrics every main appends to (train/metrics.py writes it; NaN and infinities
# are the strings "nan", "inf", "-inf": strict JSON).
JSONL_NAME = "metrics.jsonl"
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
RESULTS_NAME = "results.json"
KINDS = ("rl", "sft", "rejection_sampling", "expert_iteration", "eval")


def _json_safe(x):
  """NaN/inf as strings (strict JSON); NumPy/JAX scalars as floats; other leaves as str."""
  if isinstance(x, Mapping):
    return {str(k): _json_safe(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_json_safe(v) for v in x]
  if isinstance(x, bool) or x is None or isinstance(x, str):
    return x
  if isinstance(x, int):
    return x
  try:
    f = float(x)
  except (TypeError, ValueError):
    return str(x)
  if math.isnan(f):
    return "nan"
  if math.isinf(f):
    return "inf" if f > 0 else "-inf"
  return f


def _numeric(d: Mapping) -> dict[str, float]:
  out = {}
  for k, v in d.items():
    if isinstance(v, bool) or not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
      continue
    try:
      out[str(k)] = float(v)
    except (TypeError, ValueError):
      continue
  return out


def _decode(x):
  return _NONFINITE[x] if isinstance(x, str) and x in _NONFINITE else x


def read_jsonl(path) -> list[dict[str, Any]]:
  """Records of a metrics.jsonl file, with "nan"/"inf"/"-inf" back as floats."""
  records = []
  with open(path, encoding="utf-8") as f:
    for lineno, line in enumerate(f, start=1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{lineno}: invalid JSON: {e}") from e
      if not isinstance(record, dict):
        raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
      records.append({k: _decode(v) for k, v in record.items()})
  return records


def eval_history(workdir) -> list[dict[str, float]]:
  """Eval rows (any `eval/` metric) of `<workdir>/metrics.jsonl`, one per step (the last
  written wins: a resumed run re-logs the steps after its checkpoint), in step order."""
  path = pathlib.Path(workdir) / JSONL_NAME
  if not path.is_file():
    return []
  rows: dict[int, dict] = {}
  for r in read_jsonl(path):
    evals = {k: v for k, v in r.items() if k.startswith("eval/")}
    if evals and int(r.get("step", 0)) >= 0:
      rows[int(r["step"])] = {"step": int(r["step"]), **_numeric(evals)}
  return [rows[s] for s in sorted(rows)]


def last_train_row(workdir) -> dict[str, float]:
  """The last non-eval row of metrics.jsonl at a step >= 0, without time/ and throughput/."""
  path = pathlib.Path(workdir) / JSONL_NAME
  last: dict[str, float] = {}
  if path.is_file():
    for r in read_jsonl(path):
      if int(r.get("step", 0)) >= 0 and not any(k.startswith("eval/") for k in r):
        last = {k: v for k, v in _numeric(r).items()
                if not k.startswith(("time/", "throughput/"))}
  return last


def _history_from_outcome(kind: str, outcome: Any) -> list[dict[str, float]]:
  """Evaluations of the mains that do not log eval rows to metrics.jsonl."""
  if kind == "eval" and isinstance(outcome, (list, tuple)):
    # Test-time scaling: one result per task; metrics named eval/<task>/<metric>.
    flat = {f"eval/{t['task']}/{k}": v for t in outcome if isinstance(t, Mapping)
            for k, v in _numeric(t.get("metrics", {})).items()}
    return [{"step": 0, **flat}] if flat else []
  if not isinstance(outcome, Mapping):
    return []
  if kind == "expert_iteration":
    return [{"step": int(h.get("round", i)), **_numeric(h)}
            for i, h in enumerate(outcome.get("history", []))]
  if kind == "sft" and isinstance(outcome.get("eval"), Mapping):
    return [{"step": int(outcome.get("steps", 0)), **_numeric(outcome["eval"])}]
  flat = _numeric(outcome)
  return [{"step": 0, **flat}] if flat else []


def build(workdir, kind: str, outcome: Any, wall_time_s: float) -> dict:
  if kind not in KINDS:
    raise ValueError(f"results kind must be one of {KINDS}, got {kind!r}")
  history = eval_history(workdir) or _history_from_outcome(kind, outcome)
  final = {k: v for k, v in history[-1].items() if k != "step"} if history else {}
  best: dict[str, float] = {}
  for h in history:
    for k, v in h.items():
      if k != "step" and not math.isnan(v):
        best[k] = max(best.get(k, -math.inf), v)
  return {"format": FORMAT, "kind": kind, "status": "finished",
          "final": final, "best": best, "history": history, "train": last_train_row(workdir),
          "step": history[-1]["step"] if history else 0,
          "wall_time_s": float(wall_time_s), "outcome": outcome}


def write(workdir, kind: str, outcome: Any = None, started: float | None = None) -> dict:
  """Writes `<workdir>/results.json` (process 0 only) and returns its contents."""
  # A main that never imported JAX is one process; importing it here would cost seconds.
  jax = sys.modules.get("jax")
  wall = time.time() - started if started is not None else float("nan")
  res = build(workdir, kind, outcome, wall)
  if jax is None or jax.process_index() == 0:
    path = pathlib.Path(workdir) / RESULTS_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_json_safe(res), indent=2, sort_keys=True, allow_nan=False))
    os.replace(tmp, path)  # Atomic: results.json is either absent or complete.
  return res


def read(path) -> dict:
  """A results.json (a file or a run directory), NaN strings back as floats; fails naming the
  file when it is not a finished r1jax results file."""
  path = pathlib.Path(path)
  if path.is_dir():
    path = path / RESULTS_NAME
  try:
    res = json.loads(path.read_text())
  except (OSError, json.JSONDecodeError) as e:
    raise ValueError(f"{path}: not a readable results file: {e}") from e
  if not isinstance(res, dict) or res.get("format") != FORMAT:
    raise ValueError(f"{path}: not an r1jax results file (format {FORMAT!r})")
  back = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
  fix = lambda d: {k: back.get(v, v) if isinstance(v, str) else v for k, v in d.items()}
  res["final"], res["best"] = fix(res["final"]), fix(res["best"])
  res["train"] = fix(res.get("train", {}))
  res["wall_time_s"] = fix({"w": res.get("wall_time_s", "nan")})["w"]
  res["history"] = [fix(h) for h in res["history"]]
  return res


def is_finished(run_dir) -> bool:
  try:
    return read(run_dir).get("status") == "finished"
  except ValueError:
    return False
