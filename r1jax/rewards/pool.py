"""A process pool for grading that enforces per-call time limits from outside.

Workers are started with 'forkserver' (or 'spawn' where that is missing), never plain 'fork':
the parent runs JAX, whose threads make fork unsafe. A worker grades a chunk of calls in order
and sends the chunk's results in one message; before each call it writes the call's key and
start time to shared memory. It also sets its own SIGALRM limit of `timeout_s` per call (see
`registry.call_reward`), which stops ordinary slow Python. A call still running after
`timeout_s + kill_grace_s` (stuck in C code, signals blocked) gets its worker killed: that call
scores 0 as a failure, the chunk's other calls go back to the queue, and a fresh worker takes
the place, so one pathological completion never stalls the batch. A worker that dies is
replaced too, busy or idle (an out-of-memory kill mostly hits idle workers): its unfinished
calls go back to the queue, the call it died on included once; a call whose worker dies on
it twice scores 0 as a counted failure (`GradedBatch.failures`), never a crash or an uncounted
0.

  with RewardPool(num_workers=2) as pool:
    rewards = registry.grade_batch(completions, examples, specs, pool=pool)

Custom rewards added to `registry.REWARDS` in the parent must also exist in the workers: pass
an `initializer` (a picklable module-level function) that registers them.
"""
from __future__ import annotations

import collections
import multiprocessing as mp
import time
from multiprocessing import connection
from typing import Callable, Mapping, Sequence

from r1jax.rewards import numeric, registry

# Imported once in the fork server, not per worker. sympy too: the grader imports it on first
# use, which in a worker would count against the parent's kill deadline.
_PRELOAD = ["r1jax.rewards.registry", "sympy"]
_IDLE = -1.0
_MAX_START_FAILURES = 3


def _worker_main(conn, status, initializer) -> None:
  """Worker loop: receive (completions, examples, calls, timeout_s), send the results."""
  if initializer is not None:
    initializer()
  numeric._sympy()  # pylint: disable=protected-access  # Before "ready" (a no-op if preloaded).
  conn.send("ready")
  while True:
    try:
      job = conn.recv()
    except EOFError:
      return
    if job is None:
      return
    completions, examples, calls, timeout_s = job
    results = []
    for key, ci, name, params in calls:
      # Time first, then key: a parent that sees the new key also sees its start time.
      # time.monotonic is CLOCK_MONOTONIC, one clock for all processes.
      status[1] = time.monotonic()
      status[0] = key
      out, failed = registry.call_reward(name, completions[ci], examples[ci], params, timeout_s)
      results.append((key, out.score, out.steps, failed))
    status[1] = time.monotonic()  # Idle since now: the results are on their way.
    status[0] = _IDLE
    conn.send(results)


class _Worker:
  """One worker process, its chunk in flight and the shared (current key, start time)."""

  def __init__(self, ctx, initializer):
    self.conn, child = ctx.Pipe()
    self.status = ctx.RawArray("d", [_IDLE, 0.0])
    self.process = ctx.Process(target=_worker_main, args=(child, self.status, initializer),
                               daemon=True)
    self.process.start()
    child.close()
    self.ready = False
    self.inflight: list[int] = []
    self.started = self.sent = time.monotonic()

  def current(self) -> tuple[int, float]:
    """(key of the running call, when it started), or (-1, when the worker last made
    progress: the chunk was sent, or the worker finished a chunk)."""
    key, since = int(self.status[0]), self.status[1]
    return (key, since) if key >= 0 and key in self.inflight else (-1, max(self.sent, since))

  def kill(self) -> None:
    self.process.kill()
    self.process.join(timeout=5)
    self.conn.close()


class RewardPool:
  """`num_workers` grading processes; use as a context manager or call `close()`."""

  def __init__(self, num_workers: int = 2, kill_grace_s: float = 0.5,
               start_method: str | None = None, chunk_size: int = 64,
               startup_timeout_s: float = 120.0, initializer: Callable[[], None] | None = None):
    if num_workers < 1:
      raise ValueError(f"RewardPool needs num_workers >= 1, got {num_workers}")
    if start_method is None:
      start_method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    if start_method == "fork":
      raise ValueError("RewardPool refuses start_method='fork': the parent runs JAX threads")
    self._ctx = mp.get_context(start_method)
    if start_method == "forkserver":
      self._ctx.set_forkserver_preload(_PRELOAD)
    self.kill_grace_s = kill_grace_s
    self.chunk_size = chunk_size
    self.startup_timeout_s = startup_timeout_s
    self.restarts = 0  # Workers killed and replaced so far (a metric for the trainer).
    self._initializer = initializer
    self._start_failures = 0  # Workers in a row that died or hung before saying "ready".
    self._workers = [_Worker(self._ctx, initializer) for _ in range(num_workers)]

  def __enter__(self) -> "RewardPool":
    return self

  def __exit__(self, *exc) -> None:
    self.close()

  def close(self) -> None:
    for w in self._workers:
      try:
        w.conn.send(None)
      except (OSError, ValueError):
        pass
    for w in self._workers:
      w.process.join(timeout=2)
      if w.process.is_alive():
        w.kill()
      else:
        w.conn.close()
    self._workers = []

  def worker_pids(self) -> list[int]:
    return [w.process.pid for w in self._workers]

  def _replace(self, index: int) -> None:
    self._workers[index].kill()
    self._workers[index] = _Worker(self._ctx, self._initializer)
    self.restarts += 1

  def run(self, completions: Sequence[str], examples: Sequence[Mapping],
          calls: Sequence[tuple], timeout_s: float) -> list[tuple[registry.RewardOutput, bool]]:
    """Results of `calls` ((completion index, spec index, name, params) tuples), in order."""
    if not self._workers:
      raise RuntimeError("RewardPool is closed")
    results: list = [None] * len(calls)
    queue = collections.deque(range(len(calls)))
    chunk = max(1, min(self.chunk_size, len(calls) // (4 * len(self._workers))))
    limit = timeout_s + self.kill_grace_s
    done = 0
    died_on: set[int] = set()  # Calls a worker died on once.
    while done < len(calls):
      for i, w in enumerate(self._workers):
        if w.ready and not w.inflight and queue:
          if not w.process.is_alive():  # Died while idle (an OOM kill lands here mostly).
            self._replace(i)
            continue
          keys = [queue.popleft() for _ in range(min(chunk, len(queue)))]
          used = sorted({calls[k][0] for k in keys})  # Each completion and example once.
          local = {ci: n for n, ci in enumerate(used)}
          try:
            w.conn.send(([completions[ci] for ci in used], [examples[ci] for ci in used],
                         [(k, local[calls[k][0]], calls[k][2], calls[k][3]) for k in keys],
                         timeout_s))
          except OSError:  # BrokenPipeError: it died since the check; nothing ran yet.
            queue.extendleft(reversed(keys))
            self._replace(i)
            continue
          w.inflight, w.sent = keys, time.monotonic()
      now = time.monotonic()
      deadlines = [w.current()[1] + limit for w in self._workers if w.inflight]
      wait_s = min(deadlines) - now if deadlines else limit
      ready = connection.wait([w.conn for w in self._workers], timeout=max(0.0, wait_s))
      for i, w in enumerate(list(self._workers)):
        dead = False
        if w.conn in ready:
          try:
            msg = w.conn.recv()
          except (EOFError, OSError):
            dead = True
          else:
            if msg == "ready":
              w.ready = True
              self._start_failures = 0
            else:
              for key, score, steps, failed in msg:
                results[key] = (registry.RewardOutput(score, steps), failed)
              done += len(msg)
              w.inflight = []
        if not w.ready and (dead or time.monotonic() - w.started > self.startup_timeout_s):
          # A replacement can be killed too (memory pressure): retry a few times, but a worker
          # that cannot start at all (a broken initializer) must stop the run, not loop.
          self._start_failures += 1
          if self._start_failures > _MAX_START_FAILURES:
            raise RuntimeError(f"reward worker failed to start {self._start_failures} times in "
                               f"a row (last exit code {w.process.exitcode})")
          self._replace(i)
          continue
        key, since = w.current()
        if dead or (w.inflight and time.monotonic() - since > limit):
          if key >= 0 and (not dead or key in died_on):
            # Past its limit, or its worker died on it twice: it scores 0 as a failure.
            results[key] = (registry.RewardOutput(0.0, None), True)
            done += 1
            requeue = [k for k in w.inflight if k != key]
          else:
            # A death (an OOM kill) need not be the call's fault: every call gets one retry.
            died_on.add(key)
            requeue = list(w.inflight)
          queue.extendleft(reversed(requeue))
          self._replace(i)
    return results
