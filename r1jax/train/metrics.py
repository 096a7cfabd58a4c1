"""Training metrics on the host: TensorBoard + JSONL writers, console progress, phase timers.

  writer = MetricsWriter(workdir, process_index=jax.process_index())
  progress = ConsoleProgress(total_steps, keys=("reward/mean", "accuracy"))
  timer = Timer()
  with timer("sampling"):
    rollouts = jax.block_until_ready(sample(...))  # block, or the timer sees only dispatch
  scalars = {**metrics, **timer.seconds(prefix="time/")}
  writer.write(step, scalars)
  progress.log(step, scalars, step_seconds)

`metrics.jsonl` holds one JSON object per step, {"step": int, name: float, ...}; NaN and
infinities are written as the strings "nan", "inf", "-inf" so every line stays strict JSON, and
`read_jsonl` turns them back into floats. No TensorFlow: event files come from tensorboardX.
"""
from __future__ import annotations

import contextlib
import json
import math
import pathlib
import sys
import time
from typing import Any, Iterator, Mapping, Sequence, TextIO

import numpy as np

JSONL_NAME = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def to_float(name: str, value: Any) -> float:
  """A Python float from a Python/NumPy/JAX scalar (or size-1 array); fails naming `name`."""
  arr = np.asarray(value)
  # Kind 'V' stays allowed: JAX's bfloat16 reaches NumPy as an ml_dtypes void-kind type.
  if arr.size != 1 or arr.dtype.kind in "USOcmM":
    raise ValueError(f"metric {name!r} must be a numeric scalar, got {arr.dtype} {arr.shape}")
  return float(arr.reshape(()))


def _encode(x: float) -> float | str:
  if math.isnan(x):
    return "nan"
  if math.isinf(x):
    return "inf" if x > 0 else "-inf"
  return x


def _decode(x):
  return _NONFINITE[x] if isinstance(x, str) and x in _NONFINITE else x


class MetricsWriter:
  """Writes scalars per step to TensorBoard and `workdir/metrics.jsonl`, on process 0 only."""

  def __init__(self, workdir, process_index: int = 0):
    self.active = process_index == 0
    self.jsonl_path = pathlib.Path(workdir) / JSONL_NAME
    self._tb = self._jsonl = None
    if not self.active:
      return
    # Imported here: only the writing process pays for tensorboardX (and its optional torch).
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self.jsonl_path.parent.mkdir(parents=True, exist_ok=True)
    self._tb = SummaryWriter(logdir=str(pathlib.Path(workdir) / TENSORBOARD_DIR))
    # Appending: a resumed run continues the same file (steps after the restore point repeat).
    self._jsonl = open(self.jsonl_path, "a", encoding="utf-8")

  def write(self, step: int, scalars: Mapping[str, Any]) -> None:
    """Logs `scalars` (name -> scalar) at `step`; the JSONL line is flushed immediately."""
    if not self.active:
      return
    if "step" in scalars:
      raise ValueError("metric name 'step' is reserved for the step number")
    values = {name: to_float(name, v) for name, v in scalars.items()}
    for name, v in values.items():
      self._tb.add_scalar(name, v, global_step=int(step))
    record = {"step": int(step), **{k: _encode(v) for k, v in values.items()}}
    # Flushed per line so a preempted run keeps every step it logged.
    self._jsonl.write(json.dumps(record, allow_nan=False) + "\n")
    self._jsonl.flush()

  def flush(self) -> None:
    if self.active:
      self._tb.flush()
      self._jsonl.flush()

  def close(self) -> None:
    if self.active:
      self._tb.close()
      self._jsonl.close()
      self.active = False


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


def format_hms(seconds: float) -> str:
  """h:mm:ss, hours unbounded."""
  s = max(int(round(seconds)), 0)
  return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class ConsoleProgress:
  """One line per logged step: step/total, chosen metrics, seconds per step, ETA."""

  def __init__(self, total_steps: int, keys: Sequence[str] = (), process_index: int = 0,
               stream: TextIO | None = None):
    if total_steps < 1:
      raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    self.total_steps = total_steps
    self.keys = tuple(keys)
    self.active = process_index == 0
    self._stream = stream
    self._seconds_sum = 0.0
    self._seconds_count = 0

  def log(self, step: int, metrics: Mapping[str, Any], step_seconds: float) -> str:
    """Prints and returns the line; the ETA uses the mean of all step times logged so far."""
    self._seconds_sum += step_seconds
    self._seconds_count += 1
    mean = self._seconds_sum / self._seconds_count
    parts = [f"step {step}/{self.total_steps}"]
    parts += [f"{k} {to_float(k, metrics[k]):.4g}" for k in self.keys if k in metrics]
    parts += [f"{step_seconds:.2f} s/step",
              f"ETA {format_hms(mean * max(self.total_steps - step, 0))}"]
    line = " | ".join(parts)
    if self.active:
      print(line, file=self._stream or sys.stdout, flush=True)
    return line


class Timer:
  """Accumulates wall-clock seconds per named phase; repeated phases add up."""

  def __init__(self):
    self._seconds: dict[str, float] = {}

  @contextlib.contextmanager
  def __call__(self, name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
      yield
    finally:
      self._seconds[name] = self._seconds.get(name, 0.0) + time.perf_counter() - start

  def seconds(self, prefix: str = "") -> dict[str, float]:
    """Phase -> total seconds, names prefixed (e.g. "time/") for logging."""
    return {prefix + name: s for name, s in self._seconds.items()}
