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

Each row is appended with one write(2) to an O_APPEND descriptor, so a row is either all there
or (killed mid-write, disk full) a torn tail without its newline. Opening the file drops such a
tail and says so; a failed write raises MetricsWriteError (path and OS error, one line) after
cutting the file back to its last whole row. A resumed run calls `discard_after(step)` so the
rows after its checkpoint, which it computes again, appear once.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import pathlib
import sys
import time
from typing import Any, Iterator, Mapping, Sequence, TextIO

import numpy as np

from r1jax.results import JSONL_NAME, read_jsonl  # pylint: disable=unused-import
from r1jax.train import exit_status

TENSORBOARD_DIR = "tensorboard"


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


class MetricsWriteError(exit_status.FatalError):
  """A metrics row could not be written (disk full, ...)."""


def _stderr(line: str) -> None:
  print(line, file=sys.stderr, flush=True)


def repair_torn_tail(path, log=_stderr) -> int:
  """Cuts `path` back to its last newline; returns the bytes dropped (0 if it was whole).

  A row is written in one write(2) ending in its newline, so bytes after the last newline are
  a row cut short by a kill or a full disk; kept, they would make every later read fail.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    return 0
  with open(path, "rb+") as f:
    size = f.seek(0, os.SEEK_END)
    if size == 0:
      return 0
    f.seek(size - 1)
    if f.read(1) == b"\n":
      return 0
    keep, pos = 0, size
    while pos > 0:  # Scan back in blocks for the last newline.
      start = max(0, pos - 65536)
      f.seek(start)
      block = f.read(pos - start)
      i = block.rfind(b"\n")
      if i >= 0:
        keep = start + i + 1
        break
      pos = start
    f.truncate(keep)
  lineno = path.read_bytes().count(b"\n") + 1
  log(f"warning: {path}:{lineno}: dropped a torn last row ({size - keep} bytes without a "
      "newline, from a run killed mid-write or a full disk)")
  return size - keep


class MetricsWriter:
  """Writes scalars per step to TensorBoard and `workdir/metrics.jsonl`, on process 0 only."""

  def __init__(self, workdir, process_index: int = 0, log=_stderr):
    self.active = process_index == 0
    self.jsonl_path = pathlib.Path(workdir) / JSONL_NAME
    self._tb = self._fd = None
    self._log = log
    if not self.active:
      return
    # Imported here: only the writing process pays for tensorboardX (and its optional torch).
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self.jsonl_path.parent.mkdir(parents=True, exist_ok=True)
    self._tb = SummaryWriter(logdir=str(pathlib.Path(workdir) / TENSORBOARD_DIR))
    repair_torn_tail(self.jsonl_path, log)
    # Appending: a resumed run continues the same file (see discard_after).
    self._fd = os.open(self.jsonl_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

  def discard_after(self, step: int | None) -> int:
    """Drops the rows with a step after `step` (all rows with None); returns how many.

    A resumed run calls this with its checkpoint's step: the rows it logged after that step
    are computed again, and would otherwise appear twice. A fresh start (no checkpoint)
    passes None. The file is replaced atomically.
    """
    if not self.active or not self.jsonl_path.is_file():
      return 0
    keep, dropped = [], 0
    with open(self.jsonl_path, encoding="utf-8") as f:
      for lineno, line in enumerate(f, start=1):
        if not line.strip():
          continue
        try:
          row_step = json.loads(line)["step"]
        except (ValueError, KeyError, TypeError) as e:
          raise MetricsWriteError(f"{self.jsonl_path}:{lineno}: not a metrics row ({e}); "
                                  "move the file away to start it afresh") from e
        if step is not None and row_step <= step:
          keep.append(line)
        else:
          dropped += 1
    if dropped:
      tmp = self.jsonl_path.with_name(self.jsonl_path.name + ".tmp")
      tmp.write_text("".join(keep), encoding="utf-8")
      os.replace(tmp, self.jsonl_path)
      os.close(self._fd)  # The old descriptor points at the replaced file.
      self._fd = os.open(self.jsonl_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
      where = "a fresh start" if step is None else f"the resume at step {step}"
      self._log(f"{self.jsonl_path}: dropped {dropped} row(s) logged after the last checkpoint "
                f"(recomputed by {where})")
    return dropped

  def _append(self, step: int, line: bytes) -> None:
    size = os.fstat(self._fd).st_size
    try:
      rest = memoryview(line)
      while rest:  # A short write is a full disk that says so at the next write.
        n = os.write(self._fd, rest)
        if n == 0:
          raise OSError(f"no bytes written, {len(rest)} of {len(line)} left")
        rest = rest[n:]
    except OSError as e:
      try:
        os.ftruncate(self._fd, size)  # Leave no torn row behind.
      except OSError:
        pass
      raise MetricsWriteError(f"writing the metrics row of step {step} to {self.jsonl_path} "
                              f"failed: {e}") from e

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
    # One unbuffered write per row: a preempted run keeps every step it logged.
    self._append(int(step), (json.dumps(record, allow_nan=False) + "\n").encode("utf-8"))

  def flush(self) -> None:
    if self.active:
      self._tb.flush()

  def close(self) -> None:
    if self.active:
      self._tb.close()
      os.close(self._fd)
      self.active = False


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
