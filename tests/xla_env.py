"""XLA flags of the test processes (conftest.py, the Makefile, tests that start subprocesses).

Most tests compile many small programs and run each a few times, so XLA's compile time, not
run time, is what they wait on: they compile at the lowest backend optimisation level, which
cut a two-step trainer test's CPU time by ~30% here. The semantics are XLA's either way (the
tolerances against NumPy references still hold). Runs that are mostly run time, such as the
closed-loop learning runs, keep the default level: on them it costs ~75%.
"""
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def flags(devices: int, fast_compile: bool = True) -> str:
  """XLA_FLAGS for a CPU process with `devices` virtual devices."""
  base = f"--xla_force_host_platform_device_count={devices}"
  return f"{base} {FAST_COMPILE}" if fast_compile else base
