"""The fault-tolerant edges of a training run: start (lock, data fingerprint), resume, end.

The RL trainer calls these at its setup, its resume and its end, so that the loop itself stays
about RL:

  with workdir_lock.hold(workdir):             # one writer per workdir
    prepare(config, ckpt)                       # every step records the data fingerprint
    restored = restore(config, ckpt, writer, abstract, check=...)
    ...                                         # the step loop
    finish(config, ckpt.latest_step(), ckpt.directory)  # raises Preempted if cut short

`restore` falls back past steps that do not restore (checkpoint.strict_restore refuses
instead), compares the data with the checkpoint's fingerprint (checkpoint.on_data_change), and
drops the metrics rows logged after the restored step, which the run computes again.
"""
from __future__ import annotations

from typing import Any, Callable

from r1jax.train import checkpoint as ckpt_lib
from r1jax.train import data_fingerprint
from r1jax.train import exit_status
from r1jax.train import setup as setup_lib

FINGERPRINT_KEY = "data_fingerprint"


def validate_config(config) -> None:
  """The checkpoint fields this module reads; bad values fail before any compute."""
  c = config.checkpoint
  if not isinstance(c.get("strict_restore", False), bool):
    raise setup_lib.ConfigError(f"config.checkpoint.strict_restore must be True or False, got "
                                f"{c.strict_restore!r}")
  policy = c.get("on_data_change", "warn")
  if policy not in data_fingerprint.POLICIES:
    raise setup_lib.ConfigError(f"config.checkpoint.on_data_change must be one of "
                                f"{data_fingerprint.POLICIES}, got {policy!r}")


def prepare(config, ckpt: ckpt_lib.Checkpointer) -> None:
  """Makes every step `ckpt` saves record the fingerprint of the current data."""
  ckpt.extra_defaults[FINGERPRINT_KEY] = data_fingerprint.compute(config)


def restore(config, ckpt: ckpt_lib.Checkpointer, writer, abstract_state: Any,
            check: Callable[[Any, dict], Any] | None = None,
            log: Callable[[str], Any] = print) -> tuple[Any, dict] | None:
  """(state, extra) of the newest step that restores, or None for a fresh start.

  `check(state, extra)` is the caller's use of `extra` (a step it fails on is skipped too).
  `writer` (a MetricsWriter) drops the rows after the restored step, all rows on a fresh start.
  """
  found = ckpt.restore_latest_good(abstract_state=abstract_state, check=check,
                                   strict=config.checkpoint.get("strict_restore", False),
                                   log=log)
  if found is None:
    writer.discard_after(None)
    return None
  step, state, extra = found
  current = ckpt.extra_defaults.get(FINGERPRINT_KEY)
  if current is not None:
    data_fingerprint.check(extra.get(FINGERPRINT_KEY), current,
                           config.checkpoint.get("on_data_change", "warn"),
                           ckpt.step_path(step), log)
  writer.discard_after(step)
  return state, extra


def finish(config, saved_step: int | None, directory) -> None:
  """Raises Preempted when SIGTERM stopped the run before its last step (exit status 75).

  Call on every process after the final save has finished (a collective with several).
  """
  if ckpt_lib.preemption_requested() and (saved_step or 0) < config.total_steps:
    raise exit_status.Preempted(f"SIGTERM at step {saved_step} of {config.total_steps}; saved "
                                f"in {directory}")
