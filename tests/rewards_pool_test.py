"""Tests for r1jax.rewards.pool: process-pool grading with hard time limits."""
import os
import signal
import time

import numpy as np
import pytest

from r1jax.rewards import pool as pool_lib
from r1jax.rewards import registry
from r1jax.rewards.registry import RewardOutput
from r1jax.rewards.registry import RewardSpec

SPECS = [RewardSpec("math_accuracy", 1.0), RewardSpec("format_strict", 0.5),
         RewardSpec("process_steps", 0.25)]
COMPLETIONS = [f"<think>{i}+1={i + 1}\n</think><answer>\\frac{{{i + 1}}}{{2}}</answer>"
               for i in range(40)]
EXAMPLES = [{"answer": f"{(i + 1) / 2}"} for i in range(40)]


def _maybe_hang(completion, example):
  """Hangs where SIGALRM cannot reach it (as C code would) when asked to; else scores 1."""
  del example
  if completion == "HANG":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(600)
  return RewardOutput(1.0)


def _register_maybe_hang():
  registry.REWARDS["maybe_hang"] = _maybe_hang


@pytest.fixture(scope="module")
def pool():
  with pool_lib.RewardPool(num_workers=2, kill_grace_s=0.25) as p:
    yield p


def _assert_same(a, b):
  np.testing.assert_array_equal(a.total, b.total)
  for name in a.per_reward:
    np.testing.assert_array_equal(a.per_reward[name], b.per_reward[name])
  assert a.steps == b.steps and a.failures == b.failures


def test_pool_matches_in_process(pool):
  local = registry.grade_batch(COMPLETIONS, EXAMPLES, SPECS)
  pooled = registry.grade_batch(COMPLETIONS, EXAMPLES, SPECS, pool=pool)
  _assert_same(local, pooled)
  assert local.total.sum() == pytest.approx(40 * 1.75)


def test_hostile_batch_finishes_in_time(pool):
  hostile = ["\\boxed{9^{9^{9^{9}}}}", "\\boxed{100000!}", "x" * 1_000_000,
             "\\boxed{" + "{" * 10_000 + "}" * 10_000 + "}",
             "\\boxed{__import__('os').system('ls')}"] * 4
  start = time.perf_counter()
  out = registry.grade_batch(hostile, [{"answer": "5"}] * len(hostile), SPECS, pool=pool)
  assert time.perf_counter() - start < 5.0
  assert out.per_reward["math_accuracy"].sum() == 0
  assert sum(out.failures.values()) == 0


def test_call_stuck_in_c_is_abandoned(monkeypatch):
  monkeypatch.setitem(registry.REWARDS, "maybe_hang", _maybe_hang)
  completions = ["ok"] * 10 + ["HANG"] + ["ok"] * 10
  with pool_lib.RewardPool(2, kill_grace_s=0.25, initializer=_register_maybe_hang) as p:
    start = time.perf_counter()
    out = registry.grade_batch(completions, [{}] * 21, [RewardSpec("maybe_hang")], pool=p,
                               timeout_s=0.5)
    elapsed = time.perf_counter() - start
    assert p.restarts == 1
  assert out.failures == {"maybe_hang": 1}
  np.testing.assert_array_equal(out.total, np.asarray([1.0] * 10 + [0.0] + [1.0] * 10))
  assert elapsed < 0.75 + 5.0  # the limit, plus a generous allowance for a busy machine


def test_stopped_worker_is_replaced(pool):
  registry.grade_batch(COMPLETIONS, EXAMPLES, SPECS, pool=pool)  # Both workers are ready.
  restarts = pool.restarts
  stuck = pool.worker_pids()[0]
  os.kill(stuck, signal.SIGSTOP)  # Silent before its first call: nothing to blame, all re-queued.
  try:
    out = registry.grade_batch(COMPLETIONS, EXAMPLES, SPECS, pool=pool, timeout_s=0.5)
  finally:
    if stuck in pool.worker_pids():
      os.kill(stuck, signal.SIGCONT)
  assert stuck not in pool.worker_pids() and pool.restarts == restarts + 1
  _assert_same(registry.grade_batch(COMPLETIONS, EXAMPLES, SPECS), out)


def test_refuses_fork():
  with pytest.raises(ValueError, match="fork"):
    pool_lib.RewardPool(1, start_method="fork")


def test_closed_pool_raises():
  p = pool_lib.RewardPool(1)
  p.close()
  with pytest.raises(RuntimeError, match="closed"):
    registry.grade_batch(["x"], [{}], [RewardSpec("format_tags")], pool=p)


def _slow_ok(completion, example):
  del completion, example
  time.sleep(0.05)
  return RewardOutput(1.0)


def _register_slow_ok():
  registry.REWARDS["slow_ok"] = _slow_ok


def test_long_chunks_of_quick_calls_are_not_killed(monkeypatch):
  # 40 calls of 50 ms in one chunk take 2 s, far past the 0.3 s limit of any single call.
  monkeypatch.setitem(registry.REWARDS, "slow_ok", _slow_ok)
  with pool_lib.RewardPool(1, kill_grace_s=0.1, chunk_size=64,
                           initializer=_register_slow_ok) as p:
    out = registry.grade_batch(["x"] * 40, [{}] * 40, [RewardSpec("slow_ok")], pool=p,
                               timeout_s=0.2)
    assert p.restarts == 0
  assert out.failures == {"slow_ok": 0} and out.total.sum() == 40


def test_idle_worker_killed_between_batches_is_replaced(pool):
  # An OOM kill almost always finds a worker idle: the next batch must not hit a broken pipe.
  registry.grade_batch(COMPLETIONS, EXAMPLES, SPECS, pool=pool)  # Both workers are ready.
  restarts = pool.restarts
  victim = pool.worker_pids()[1]
  os.kill(victim, signal.SIGKILL)
  time.sleep(0.2)  # Let the kill land before grading.
  out = registry.grade_batch(COMPLETIONS, EXAMPLES, SPECS, pool=pool)
  assert victim not in pool.worker_pids() and pool.restarts == restarts + 1
  _assert_same(registry.grade_batch(COMPLETIONS, EXAMPLES, SPECS), out)
  # Both idle workers killed: the pool heals again.
  for pid in pool.worker_pids():
    os.kill(pid, signal.SIGKILL)
  time.sleep(0.2)
  _assert_same(registry.grade_batch(COMPLETIONS, EXAMPLES, SPECS),
               registry.grade_batch(COMPLETIONS, EXAMPLES, SPECS, pool=pool))


def _die_on_die(completion, example):
  """Kills its own worker (as the OOM killer would) on 'DIE'; else scores 1."""
  del example
  if completion == "DIE":
    os.kill(os.getpid(), signal.SIGKILL)
  return RewardOutput(1.0)


def _register_die_on_die():
  registry.REWARDS["die_on_die"] = _die_on_die


def test_busy_worker_death_retries_once_then_counts_a_failure(monkeypatch):
  monkeypatch.setitem(registry.REWARDS, "die_on_die", _die_on_die)
  completions = ["ok"] * 6 + ["DIE"] + ["ok"] * 6
  with pool_lib.RewardPool(2, chunk_size=4, initializer=_register_die_on_die) as p:
    out = registry.grade_batch(completions, [{}] * 13, [RewardSpec("die_on_die")], pool=p,
                               timeout_s=5.0)
    assert p.restarts == 2  # Died on it, retried once elsewhere, died again: then it is blamed.
    again = registry.grade_batch(["ok"] * 4, [{}] * 4, [RewardSpec("die_on_die")], pool=p)
  assert out.failures == {"die_on_die": 1}
  np.testing.assert_array_equal(out.total, np.asarray([1.0] * 6 + [0.0] + [1.0] * 6))
  assert again.total.sum() == 4 and again.failures == {"die_on_die": 0}


def _sympy_loaded(completion, example):
  del completion, example
  import sys  # pylint: disable=g-import-not-at-top
  return RewardOutput(float("sympy" in sys.modules))


def _register_sympy_loaded():
  registry.REWARDS["sympy_loaded"] = _sympy_loaded


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_workers_hold_sympy_before_their_first_call(monkeypatch, start_method):
  """The grader imports sympy on first use (numeric._sympy); a worker must not do that inside
  a call, where the import (over a second) would count against the parent's kill deadline."""
  monkeypatch.setitem(registry.REWARDS, "sympy_loaded", _sympy_loaded)
  with pool_lib.RewardPool(1, start_method=start_method,
                           initializer=_register_sympy_loaded) as p:
    out = registry.grade_batch(["x"], [{}], [RewardSpec("sympy_loaded")], pool=p)
  assert out.failures == {"sympy_loaded": 0} and out.total.tolist() == [1.0]
