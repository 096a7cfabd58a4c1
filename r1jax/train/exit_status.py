"""Exit statuses of the experiments/*_main.py commands, for schedulers and supervisors.

  0   finished: every step ran and the final results are written.
  1   failed: a bad config, a corrupt checkpoint with strict restore, a failed save, a workdir
      held by another run... Rerunning unchanged will fail again. Faults of the run itself
      (FatalError) are printed as one line naming the path and the cause, without a traceback.
  75  preempted (EX_TEMPFAIL): SIGTERM arrived before the end; what was done is saved and
      rerunning the same command resumes it. Schedulers should requeue on 75.

  def main(argv):
    with exit_status.guard():
      run(...)
"""
from __future__ import annotations

import contextlib
import signal
import sys
from typing import Iterator

EXIT_FAILED = 1
EXIT_PREEMPTED = 75


class FatalError(RuntimeError):
  """A fault that stops the run; the message is one line naming the path and the cause."""


class Preempted(Exception):
  """SIGTERM stopped the run before its end; its work so far is saved and resumable."""


def _raise_preempted(signum, frame):  # pylint: disable=unused-argument
  raise Preempted("SIGTERM")


@contextlib.contextmanager
def guard() -> Iterator[None]:
  """Maps the body's outcome to the statuses above.

  Until a trainer installs its own SIGTERM handler (which finishes the step and saves before
  raising Preempted), SIGTERM raises Preempted wherever the body is: the recipe commands write
  every result atomically, so stopping them anywhere loses only unfinished work.
  """
  previous = signal.signal(signal.SIGTERM, _raise_preempted)
  try:
    yield
  except Preempted as e:
    print(f"preempted ({e}); rerun the same command to resume (exit {EXIT_PREEMPTED})",
          file=sys.stderr, flush=True)
    sys.exit(EXIT_PREEMPTED)
  except FatalError as e:
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.exit(EXIT_FAILED)
  finally:
    signal.signal(signal.SIGTERM, previous)
