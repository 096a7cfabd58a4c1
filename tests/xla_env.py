"""XLA settings of the test processes (conftest.py, the Makefile, tests that start subprocesses).

Most tests compile many small programs and run each a few times, so XLA's compile time, not
run time, is what they wait on. They compile at the lowest backend optimisation level (which cut
a two-step trainer test's CPU time by ~30%) and with XLA:CPU's classic (non-MLIR) fusion
emitters, which on top of that took `train_rl_phases_test.py` from 276 to 149 CPU-s (measured
without the persistent cache).
The semantics are XLA's either way (the tolerances against NumPy references still hold). Runs
that are mostly run time, such as the closed-loop learning runs, keep the defaults: on them the
low optimisation level costs ~75%.

Thread pools: XLA:CPU runs each device's part of a multi-device program on a pool of
max(NPROC or the core count, devices) threads, and a thread waiting in a collective (all-reduce)
holds its thread. With 8 devices on 2 cores the pool has exactly 8 threads, so two independent
8-device programs in flight at once can hold all 8 threads in their collectives while the last
device's part of the first program waits for a thread: a deadlock, which XLA ends by aborting the
process ("Expected 8 threads to join the rendezvous, but only 1 of them arrived"). It was seen
in 5 of 14 runs of the trainer test files with the classic emitters and default pools, and
earlier in long in-process runs with the default emitters (why the learning runs run on one
device). NPROC, which XLA reads at start-up, sizes the pools at 8 threads per device, so it
takes 8 such programs in flight at once to block them all (the trainer's loops can
have several: each minibatch's gather or batch transfer does not wait for the previous
optimizer step; the aborts whose stacks were kept were in the RL update loop and the SFT step
loop).
"""
import os

FAST_COMPILE = ("--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true "
                "--xla_cpu_use_fusion_emitters=false")


def flags(devices: int, fast_compile: bool = True) -> str:
  """XLA_FLAGS for a CPU process with `devices` virtual devices."""
  base = f"--xla_force_host_platform_device_count={devices}"
  return f"{base} {FAST_COMPILE}" if fast_compile else base


def env(devices: int, fast_compile: bool = True) -> dict:
  """The environment variables that set up XLA for a CPU process with `devices` devices."""
  # One device runs no collectives: XLA's default pool (the core count), set explicitly so a
  # subprocess does not inherit the test process's larger NPROC.
  threads = 8 * devices if devices > 1 else os.cpu_count() or 1
  return {"XLA_FLAGS": flags(devices, fast_compile), "NPROC": str(threads)}
