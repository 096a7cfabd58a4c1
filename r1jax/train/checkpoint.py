"""Checkpoints: an orbax CheckpointManager wrapper with keep-N + keep-best retention; preemption.

A checkpoint step holds two items: `state` (a pytree of possibly sharded jax arrays: params,
opt_state, step, rng as raw uint32 key data) and `extra` (a JSON dict: data pipeline positions,
config snapshot). Usage from a trainer, on every process:

  ckpt = Checkpointer(workdir / "checkpoints", keep=3, best_metric="eval/accuracy")
  install_sigterm_handler()
  found = ckpt.restore_latest_good(abstract_state=abstract_state_with_shardings)
  if found is not None:
    step, state, extra = found
  for step in ...:
    ...
    stop = preemption_requested()  # a collective with several processes: once per step
    if step % every == 0 or stop:
      ckpt.save(step, state, extra={"data": pipeline_position}, metrics=eval_metrics)
    if stop:
      break
  ckpt.close()  # waits for the last async save

Orbax writes each step into a temporary directory and renames it (or writes a commit marker on
object stores) only once every process has finished, so a partially written step is never listed
and never restored. A finished step can still rot (a bad disk, a hand edit, a copy cut short):
`restore_latest_good` then falls back to the newest step that restores cleanly, says which step
it skipped and why, and moves the bad one to `<checkpoints>_skipped/` (kept, never deleted, and
out of the way of the step numbers the resumed run saves again).

Faults surface as one line naming the path and the cause (`CheckpointError`,
`CheckpointSaveError`; the mains print them without a traceback). A failed write raises at its
save when saving synchronously. An asynchronous save first checks, at that save, what it can
check without writing the step (the directory takes a file; the free space and the file-size
limit hold the uncompressed arrays this process writes) and raises there; an error that only the
background write meets raises at the next save, wait() or close(), naming the step that failed.
"""
from __future__ import annotations

import json
import math
import os
import resource
import shutil
import signal
import threading
import time
from typing import Any, Callable, Mapping

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from r1jax.train import exit_status

_STATE = "state"
_EXTRA = "extra"
SKIPPED_SUFFIX = "_skipped"


class CheckpointError(exit_status.FatalError):
  """No checkpoint step restores (or the newest does not and strict restore is on)."""


class CheckpointSaveError(exit_status.FatalError):
  """Writing a checkpoint step failed (disk full, permissions, a vanished mount...)."""


def one_line(e: BaseException, head: int = 160, tail: int = 240) -> str:
  """`Type: message` on one line: errors from deep in orbax/tensorstore run to many lines and
  hundreds of characters. A long message keeps its start and its end, where tensorstore puts
  the OS error ('File too large', 'No space left on device')."""
  text = " ".join(str(e).split())
  if len(text) > head + tail + 5:
    text = f"{text[:head]} ... {text[-tail:]}"
  return f"{type(e).__name__}: {text}" if text else type(e).__name__


class Checkpointer:
  """Keeps the `keep` latest steps plus the `keep_best` best by `metrics[best_metric]`."""

  def __init__(self, directory, keep: int = 3, async_save: bool = True,
               best_metric: str | None = None, best_mode: str = "max", keep_best: int = 1):
    if keep < 1:
      raise ValueError(f"checkpoint.keep must be >= 1, got {keep}")
    if best_mode not in ("max", "min"):
      raise ValueError(f"checkpoint.best_mode must be 'max' or 'min', got {best_mode!r}")
    if best_metric is not None and keep_best < 1:
      raise ValueError(f"checkpoint.keep_best must be >= 1 with a best_metric, got {keep_best}")
    self.best_metric = best_metric
    self._best_mode = best_mode
    policies = [ocp.checkpoint_managers.LatestN(n=keep)]
    best_fn = None
    if best_metric is not None:
      best_fn = self._metric_value
      # BestN keeps the last n after an ascending sort; reverse it when smaller is better.
      # Steps saved without metrics (e.g. a preemption save) are kept only while among the latest.
      policies.append(ocp.checkpoint_managers.BestN(
          get_metric_fn=best_fn, reverse=best_mode == "min", n=keep_best,
          keep_checkpoints_without_metrics=False))
    options = ocp.CheckpointManagerOptions(
        best_fn=best_fn, best_mode=best_mode,
        preservation_policy=ocp.checkpoint_managers.AnyPreservationPolicy(policies),
        enable_async_checkpointing=async_save, create=True,
        # Unfinished step directories left by a crash are never restored; delete them on start.
        cleanup_tmp_directories=True)
    # Handlers are resolved from the Composite args' types (StandardSave, JsonSave) on first use.
    directory = str(directory)
    if "://" not in directory:  # orbax's tensorstore paths must be absolute; gs:// etc. are
      directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(directory, options=options)
    self._async = async_save
    self._pending: int | None = None  # The step of an asynchronous save not yet confirmed.
    # Merged into every step's `extra` (e.g. the data fingerprint), so each step says what
    # produced it without every save call repeating it.
    self.extra_defaults: dict[str, Any] = {}

  def _metric_value(self, metrics: Mapping[str, Any]) -> float:
    # A NaN metric must never rank as best: map it to the worst end of the order.
    value = float(metrics[self.best_metric])
    if math.isnan(value):
      return -math.inf if self._best_mode == "max" else math.inf
    return value

  @property
  def directory(self):
    return self._manager.directory

  def all_steps(self) -> list[int]:
    """Kept steps, ascending; includes a step still being written (wait() to be sure)."""
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def best_step(self) -> int | None:
    """Best step by `best_metric` among the kept ones; None without a best_metric."""
    if self.best_metric is None:
      return None
    return self._manager.best_step()

  def save(self, step: int, state: Any, extra: Mapping[str, Any],
           metrics: Mapping[str, Any] | None = None, force: bool = False) -> bool:
    """Starts saving `step` (asynchronously if enabled); returns False if it was not saved.

    Call on every process. A step that is already on disk is skipped (returns False), so a
    preemption save right after a periodic save is harmless. `metrics` rank the step for
    best-by-metric retention and must then hold `best_metric`; without a best_metric they are
    not stored. `force` saves even when orbax's save policy would skip the step.
    """
    _check_state(state)
    extra = {**self.extra_defaults, **extra}
    try:
      json.dumps(extra, allow_nan=False)
    except (TypeError, ValueError) as e:
      raise ValueError(f"checkpoint extra for step {step} is not JSON-serialisable: {e}") from e
    if step in self._manager.all_steps():
      return False
    kept_metrics = None
    if metrics is not None and self.best_metric is not None:
      if self.best_metric not in metrics:
        raise ValueError(f"checkpoint metrics for step {step} lack best_metric "
                         f"{self.best_metric!r}; got keys {sorted(metrics)}")
      # Python floats so the JSON metrics file is written the same way on every host.
      kept_metrics = {k: _to_json_float(k, v) for k, v in metrics.items()}
    args = ocp.args.Composite(**{_STATE: ocp.args.StandardSave(state),
                                 _EXTRA: ocp.args.JsonSave(extra)})
    self._raise_pending_error()  # A previous asynchronous save's failure, named as such.
    if self._async:
      self._preflight(step, state)
    try:
      started = self._manager.save(step, args=args, metrics=kept_metrics, force=force)
    except Exception as e:  # pylint: disable=broad-except
      # Disk full, permissions...: raised here, at this save, as one line.
      raise CheckpointSaveError(f"saving checkpoint step {step} to {self.step_path(step)} "
                                f"failed: {one_line(e)}") from e
    if started:
      self._pending = step
    return started

  def _preflight(self, step: int, state: Any) -> None:
    """Raises CheckpointSaveError now for an asynchronous save that cannot succeed, rather than
    one save late: the directory must take a file, and the free space and the file-size limit
    (`ulimit -f`) must hold the uncompressed bytes this process writes (conservative: orbax
    compresses, but trained weights barely shrink). Every process agrees, so none starts a save
    another refused."""
    error = None
    directory = str(self.directory)
    if "://" not in directory:  # Object stores have no free space or file-size limit to check.
      sizes = [_local_nbytes(x) for x in jax.tree.leaves(state)]
      total, largest = sum(sizes), max(sizes, default=0)
      # Per process and host: processes on several hosts may share the directory.
      probe = os.path.join(directory, f".r1jax_probe.{jax.process_index()}.{os.getpid()}")
      try:
        with open(probe, "wb") as f:
          f.write(b"\0")
          f.flush()
          os.fsync(f.fileno())
        os.remove(probe)
        st = os.statvfs(directory)
        free = st.f_bavail * st.f_frsize
        if total > free:
          error = (f"OSError: [Errno 28] No space left on device: {total} bytes to write, "
                   f"{free} free")
        limit, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
        if error is None and limit != resource.RLIM_INFINITY and largest > limit:
          error = (f"OSError: [Errno 27] File too large: an array of {largest} bytes exceeds "
                   f"the file-size limit (ulimit -f) of {limit} bytes")
      except OSError as e:
        error = one_line(e)
    if not _all_processes_agree(error is None):
      raise CheckpointSaveError(f"saving checkpoint step {step} to {self.step_path(step)} "
                                f"failed: {error or 'another process cannot save it'}")

  def step_path(self, step: int) -> str:
    return os.path.join(str(self.directory), str(step))

  def _raise_pending_error(self) -> None:
    """Waits for the pending asynchronous save; its failure raises naming its step."""
    try:
      self._manager.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-except
      step, self._pending = self._pending, None
      where = (f"checkpoint step {step} to {self.step_path(step)}" if step is not None
               else f"a checkpoint to {self.directory}")
      raise CheckpointSaveError(f"saving {where} failed: {one_line(e)}") from e
    self._pending = None

  def restore(self, step: int | None = None, *, abstract_state: Any) -> tuple[Any, dict]:
    """Returns (state, extra) of `step` (default: latest), each array in its target sharding.

    `abstract_state` is a pytree of jax.ShapeDtypeStruct, each with a `.sharding`: arrays are
    read shard by shard straight into those shardings (which may differ from the saved mesh).
    """
    _check_abstract_state(abstract_state)
    if step is None:
      step = self.latest_step()
      if step is None:
        raise FileNotFoundError(f"no finalised checkpoint in {self.directory}")
    elif step not in self._manager.all_steps():
      raise FileNotFoundError(f"checkpoint step {step} not found in {self.directory}; "
                              f"finalised steps: {self.all_steps()}")
    restored = self._manager.restore(step, args=ocp.args.Composite(
        **{_STATE: ocp.args.StandardRestore(abstract_state), _EXTRA: ocp.args.JsonRestore()}))
    return restored[_STATE], dict(restored[_EXTRA])

  def restore_latest_good(self, *, abstract_state: Any,
                          check: Callable[[Any, dict], Any] | None = None,
                          strict: bool = False,
                          log: Callable[[str], Any] = print) -> tuple[int, Any, dict] | None:
    """(step, state, extra) of the newest step that restores cleanly; None with no steps.

    A step whose restore (or `check(state, extra)`, the caller's use of `extra`) raises is
    skipped with a warning naming its path and the error; once an older step restores, the
    skipped ones are moved to `<directory>_skipped/`. With `strict`, the first failure raises
    CheckpointError instead. Raises CheckpointError when no step restores (nothing is moved).
    """
    steps = self.all_steps()
    if not steps:
      return None
    skipped, first_error = [], None
    for step in reversed(steps):
      error = None
      try:
        state, extra = self.restore(step, abstract_state=abstract_state)
        if check is not None:
          check(state, extra)
      except Exception as e:  # pylint: disable=broad-except
        # Corruption shows up as any error type (JSON, tensorstore, pytree structure, KeyError).
        error = e
      if not _all_processes_agree(error is None):
        # Each process reads its own shards: one bad shard must move every process on, or they
        # would resume from different steps.
        e = error or RuntimeError("another process could not restore this step")
        reason = f"checkpoint step {step} in {self.step_path(step)} does not restore: " + \
            one_line(e)
        if strict:
          raise CheckpointError(reason + " (checkpoint.strict_restore is on; turn it off to "
                                "fall back to an older step)") from e
        log(f"warning: {reason}; trying an older step")
        skipped.append(step)
        first_error = first_error or reason
        continue
      for bad in skipped:
        self._set_aside(bad, log)
      if skipped:
        log(f"warning: resuming from checkpoint step {step}, the newest that restores; "
            f"skipped step(s) {sorted(skipped)}")
      return step, state, extra
    raise CheckpointError(f"no checkpoint step in {self.directory} restores (steps {steps}); "
                          f"newest: {first_error}")

  def _set_aside(self, step: int, log: Callable[[str], Any]) -> None:
    """Moves an unrestorable step out of the step list, keeping its files for inspection."""
    src = self.step_path(step)
    dst = os.path.join(str(self.directory) + SKIPPED_SUFFIX, f"{step}.{int(time.time())}")
    if jax.process_index() == 0:
      os.makedirs(os.path.dirname(dst), exist_ok=True)
      shutil.move(src, dst)
      log(f"moved unrestorable checkpoint step {step} to {dst}")
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f"r1jax_checkpoint_set_aside_{step}")
    self._manager.reload()

  def wait(self) -> None:
    """Blocks until pending asynchronous saves are finalised on disk; raises CheckpointSaveError
    if one failed."""
    self._raise_pending_error()

  def close(self) -> None:
    """Waits for pending saves (raising CheckpointSaveError if one failed), then releases
    orbax's threads."""
    try:
      self._raise_pending_error()
    except CheckpointSaveError:
      try:
        self._manager.close()
      except Exception:  # pylint: disable=broad-except
        pass  # The save error above is the one to report.
      raise
    self._manager.close()


def _all_processes_agree(ok: bool) -> bool:
  """True when `ok` holds on every process (a collective with several processes)."""
  if jax.process_count() == 1:
    return ok
  flags = multihost_utils.process_allgather(np.asarray(ok, np.int32))
  return bool(np.all(flags))


def _local_nbytes(x) -> int:
  """Bytes of `x` this process writes (one replica of each of its shards)."""
  if isinstance(x, jax.Array):
    return sum(s.data.nbytes for s in x.addressable_shards if s.replica_id == 0)
  return int(getattr(x, "nbytes", 0))


def _to_json_float(name: str, value) -> float:
  arr = np.asarray(value)
  if arr.size != 1:
    raise ValueError(f"checkpoint metric {name!r} must be a scalar, got shape {arr.shape}")
  return float(arr.reshape(()))


def _check_state(state) -> None:
  for path, leaf in jax.tree_util.tree_leaves_with_path(state):
    dtype = getattr(leaf, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
      raise ValueError(f"checkpoint state{jax.tree_util.keystr(path)} is a typed PRNG key; "
                       "store jax.random.key_data(key) (raw uint32) instead")


def _check_abstract_state(abstract_state) -> None:
  for path, leaf in jax.tree_util.tree_leaves_with_path(abstract_state):
    if not isinstance(leaf, jax.ShapeDtypeStruct) or leaf.sharding is None:
      raise ValueError(f"restore: abstract_state{jax.tree_util.keystr(path)} must be a "
                       f"jax.ShapeDtypeStruct with a sharding, got {leaf!r}")


# Preemption. Signals are process-wide, so the flag is too.
_PREEMPTED = threading.Event()


def _on_sigterm(signum, frame):  # pylint: disable=unused-argument
  # Only set a flag: the trainer finishes its step, saves and exits on its own terms.
  _PREEMPTED.set()


def install_sigterm_handler():
  """Makes SIGTERM set the preemption flag (and clears it); returns the previous handler.

  Call from the main thread.
  """
  _PREEMPTED.clear()
  return signal.signal(signal.SIGTERM, _on_sigterm)


def preemption_requested() -> bool:
  """True once SIGTERM arrived on this process, or on any process in a multi-process job.

  With several processes this is a collective (an all-gather of one flag) so that every process
  sees the same answer at the same step: call it at the same point of every step on all of them.
  """
  local = _PREEMPTED.is_set()
  if jax.process_count() == 1:
    return local
  flags = multihost_utils.process_allgather(np.asarray(local, np.int32))
  return bool(np.any(flags))
