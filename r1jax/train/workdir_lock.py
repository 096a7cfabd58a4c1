"""One writer per workdir: an exclusive lock held for the whole run by every main.

Two runs writing one workdir interleave checkpoints and overwrite each other's summaries, and a
run starting up deletes the other's unfinished checkpoint directories. So each run takes
`<workdir>/.r1jax.lock` with flock(2) before it writes anything, and a second run fails at once
naming the holder:

  with workdir_lock.hold(workdir):
    ...  # the run

The kernel drops the lock when its process exits, however it exits (SIGKILL, OOM kill), so a
lock left by a dead process never blocks: the next run takes it over and says so. The file
itself stays (deleting it would let two runs lock two different files); its text only says who
holds it. Holding is re-entrant within one process (a main and the trainer it calls may both
ask). Multi-process runs: only process 0 takes it (every process shares the workdir).
"""
from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import pathlib
import socket
import sys
from typing import Iterator

from r1jax.train import exit_status

LOCK_NAME = ".r1jax.lock"
_HELD: dict[str, list] = {}  # Real path of the lock file -> [fd (None: unlockable), depth].
_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


class WorkdirLockedError(exit_status.FatalError):
  """Another live process holds the workdir."""


def _holder_text() -> str:
  return json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                     "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
                         timespec="seconds"),
                     "command": " ".join(sys.argv)[:500]})


def _describe(text: str) -> str:
  try:
    h = json.loads(text)
    return f"pid {h['pid']} on {h['host']}, started {h['started']}: {h['command']}"
  except (ValueError, KeyError, TypeError):
    return "a process that left no details"


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def acquire(workdir) -> str:
  """Locks `workdir` for this process; returns a note on a stale lock taken over ('' if none).

  Raises WorkdirLockedError naming the holder when another live process has it.
  """
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  path = os.path.realpath(workdir / LOCK_NAME)
  if path in _HELD:
    _HELD[path][1] += 1
    return ""
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # Not inherited by child processes.
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    with open(path, encoding="utf-8", errors="replace") as f:
      holder = f.read()
    os.close(fd)
    raise WorkdirLockedError(
        f"{workdir} is in use by another run ({_describe(holder)}); lock file {path}. Wait for "
        "it to finish, stop it, or use another --workdir") from None
  except OSError as e:
    if e.errno not in _NO_FLOCK:
      raise
    # Some FUSE mounts (e.g. gcsfuse) have no locks: run, but say what is not guarded.
    os.close(fd)
    _HELD[path] = [None, 1]
    return (f"warning: cannot lock {path} ({e.strerror}): this file system has no flock, so a "
            "second run on this workdir would not be refused")
  previous = os.pread(fd, 4096, 0).decode("utf-8", "replace")
  note = ""
  if previous.strip():
    # Released cleanly the file is empty; text here means its holder died holding it.
    try:
      pid = int(json.loads(previous)["pid"])
    except (ValueError, KeyError, TypeError):
      pid = -1
    alive = pid > 0 and pid != os.getpid() and _pid_alive(pid)
    note = (f"{workdir}: took over the lock left by {_describe(previous)}"
            f"{'' if alive else ' (no longer running)'}")
  os.ftruncate(fd, 0)
  os.pwrite(fd, _holder_text().encode(), 0)
  _HELD[path] = [fd, 1]
  return note


def release(workdir) -> None:
  path = os.path.realpath(pathlib.Path(workdir) / LOCK_NAME)
  held = _HELD.get(path)
  if held is None:
    return
  held[1] -= 1
  if held[1] > 0:
    return
  del _HELD[path]
  fd = held[0]
  if fd is None:
    return
  try:
    os.ftruncate(fd, 0)  # Empty: released cleanly (the next holder reports no takeover).
  except OSError:
    pass
  os.close(fd)  # Closing the only descriptor drops the flock.


def _to_stderr(line: str) -> None:
  print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def hold(workdir, primary: bool = True, log=None) -> Iterator[None]:
  """Holds the lock of `workdir` for the body (on the primary process only)."""
  if not primary:
    yield
    return
  note = acquire(workdir)
  if note:
    (log or _to_stderr)(note)
  try:
    yield
  finally:
    release(workdir)
