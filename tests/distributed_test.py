"""r1jax.distributed: settings, launcher detection, host<->global rows, and real multi-process runs.

The multi-process tests start 2 processes x 4 CPU devices on localhost (gloo collectives, the
JAX distributed runtime) and compare them with 1 process x 8 devices: same mesh, same global
batches, so the only difference is where all-reduces sum. Tolerances: host-side values
(rewards, lengths, accuracy, eval) must be identical; float32 device values may differ by the
summation order of cross-process vs in-process all-reduces: rtol 1e-5, atol 1e-6 (observed
differences are ~1e-7).
"""
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
import xla_env

from r1jax import distributed, sharding

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIG = REPO / "tests" / "configs" / "tiny_resume.py"
EXACT_PREFIXES = ("reward", "accuracy", "response/", "eval/", "data/", "train/num_tokens")


# --- settings and detection -------------------------------------------------------------

def test_settings_errors_name_the_field():
  with pytest.raises(ValueError, match="distributed.enabled"):
    distributed.Settings(enabled="yes").validate()
  with pytest.raises(ValueError, match="distributed.coordinator_address must be host:port"):
    distributed.Settings(coordinator_address="localhost").validate()
  with pytest.raises(ValueError, match="distributed.num_processes"):
    distributed.Settings(coordinator_address="h:1", process_id=0).validate()
  with pytest.raises(ValueError, match="distributed.process_id 2 must be below"):
    distributed.Settings(coordinator_address="h:1", num_processes=2, process_id=2).validate()
  with pytest.raises(ValueError, match="distributed.heartbeat_timeout_s"):
    distributed.Settings(heartbeat_timeout_s=0).validate()
  with pytest.raises(ValueError, match="distributed.local_device_ids"):
    distributed.Settings(local_device_ids="0,x").validate()
  with pytest.raises(ValueError, match="unknown field"):
    distributed.Settings.from_config({"coordinator": "h:1"})


SLURM_2 = {"SLURM_JOB_ID": "7", "SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "2",
           "SLURM_STEP_NODELIST": "n[1-2]", "SLURM_LOCALID": "0"}


@pytest.mark.parametrize("env,expected", [
    ({}, None),
    ({"SLURM_JOB_ID": "7", "SLURM_PROCID": "0", "SLURM_STEP_NUM_TASKS": "1"}, None),
    (SLURM_2, "slurm"),
    ({"OMPI_COMM_WORLD_SIZE": "4"}, "ompi"),
    ({"OMPI_COMM_WORLD_SIZE": "1"}, None),
    ({"TPU_WORKER_HOSTNAMES": "t0,t1"}, "tpu"),
    ({"TPU_WORKER_HOSTNAMES": "t0"}, None),
    ({"JAX_COORDINATOR_ADDRESS": "h:1"}, "explicit"),
])
def test_detect_cluster(env, expected):
  assert distributed.detect_cluster(env) == expected


def test_init_kwargs():
  auto = distributed.Settings()
  assert distributed.init_kwargs(auto, {}) is None  # A laptop: one process, nothing started.
  assert distributed.init_kwargs(distributed.Settings(enabled="off"), SLURM_2) is None
  # Under a launcher JAX fills coordinator/process ids itself; we pass only our timeouts.
  assert distributed.init_kwargs(auto, SLURM_2) == dict(
      initialization_timeout=300, heartbeat_timeout_seconds=60, shutdown_timeout_seconds=60)
  on = distributed.init_kwargs(distributed.Settings(enabled="on", local_device_ids="0,1"), {})
  assert on["local_device_ids"] == [0, 1] and "coordinator_address" not in on
  explicit = distributed.Settings(coordinator_address="10.0.0.1:1234", num_processes=4,
                                  process_id=3, heartbeat_timeout_s=10)
  kw = distributed.init_kwargs(explicit, {})
  assert kw["coordinator_address"] == "10.0.0.1:1234" and kw["num_processes"] == 4
  assert kw["process_id"] == 3 and kw["heartbeat_timeout_seconds"] == 10


def test_single_process_helpers_are_identities():
  info = distributed.initialize({"enabled": "auto"}, env={})
  assert (info.process_index, info.process_count) == (0, 1)
  assert info.global_devices == info.local_devices == 8
  mesh = sharding.make_mesh({"data": 4, "fsdp": 2, "tensor": 1})
  x = np.arange(24, dtype=np.float32).reshape(8, 3)
  g = distributed.global_rows(x, sharding.batch_sharding(mesh, 2))
  assert g.sharding.spec[0] == ("data", "fsdp")
  np.testing.assert_array_equal(distributed.local_rows(g), x)
  np.testing.assert_array_equal(distributed.fetch({"g": g})["g"], x)
  np.testing.assert_array_equal(distributed.allgather_rows(x), x)
  assert distributed.allgather_json({"a": [1]}) == [{"a": [1]}]
  distributed.check_row_layout(mesh, sharding.BATCH_AXES, 8)  # One process: always fine.
  rows = distributed.process_rows(sharding.batch_sharding(mesh, 1), 8)
  assert rows == {0: (0, 8)}
  with pytest.raises(KeyError):  # fail_fast leaves single-process errors alone.
    with distributed.fail_fast():
      raise KeyError("x")


# --- real multi-process runs ------------------------------------------------------------

def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _env(devices: int) -> dict:
  env = dict(os.environ)
  env.update(xla_env.env(devices))
  env["PYTHONPATH"] = str(REPO)
  return env


# FSDP over all 8 devices: with 2 processes every parameter and optimizer array is split
# across both, so each process writes and reads only its own shards of a checkpoint.
MESH = ("--config.mesh.data=1", "--config.mesh.fsdp=8")


def _grpo(workdir, steps, processes, extra=(), timeout=300):
  """Runs experiments/grpo_main.py on 1 process x 8 devices or 2 x 4; returns (rc, logs)."""
  devices = 8 // processes
  cmd = [sys.executable, str(REPO / "experiments" / "grpo_main.py"), f"--config={CONFIG}",
         f"--workdir={workdir}", f"--config.total_steps={steps}", *MESH, *extra]
  if processes == 1:
    out = subprocess.run(cmd, env=_env(devices), capture_output=True, text=True,
                         timeout=timeout)
    return [out.returncode], [out.stdout + out.stderr]
  port = _free_port()
  procs = [subprocess.Popen(
      cmd + [f"--config.distributed.coordinator_address=localhost:{port}",
             f"--config.distributed.num_processes={processes}",
             f"--config.distributed.process_id={i}"],
      env=_env(devices), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
      for i in range(processes)]
  logs = [p.communicate(timeout=timeout)[0] for p in procs]
  return [p.returncode for p in procs], logs


def _metrics(workdir) -> list[dict]:
  lines = (pathlib.Path(workdir) / "metrics.jsonl").read_text().splitlines()
  return [{k: v for k, v in json.loads(l).items()  # All but wall-clock figures.
           if not k.startswith(("time/", "throughput/")) and not k.endswith("per_sec")}
          for l in lines]


def _params(workdir, step) -> dict:
  """The policy params of a checkpoint step, restored whole onto one device."""
  path = pathlib.Path(workdir) / "checkpoints" / str(step) / "state"
  ckptr = ocp.StandardCheckpointer()
  dev = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  meta = ckptr.metadata(path).item_metadata.tree
  abstract = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=dev), meta)
  return jax.tree.map(np.asarray, ckptr.restore(path, abstract)["state"]["params"])


def _assert_same_run(a_dir, b_dir, step, params=True):
  a, b = _metrics(a_dir), _metrics(b_dir)
  assert [r["step"] for r in a] == [r["step"] for r in b]
  for ra, rb in zip(a, b):
    assert ra.keys() == rb.keys()
    for k in ra:
      if k.startswith(EXACT_PREFIXES):
        assert ra[k] == rb[k], (ra["step"], k)
      else:
        np.testing.assert_allclose(rb[k], ra[k], rtol=1e-5, atol=1e-6,
                                   err_msg=f"step {ra['step']} {k}")
  if not params:
    return
  pa, pb = _params(a_dir, step), _params(b_dir, step)
  jax.tree.map(lambda x, y: np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-6), pa, pb)


def _check(rcs, logs):
  assert all(rc == 0 for rc in rcs), "\n\n".join(log[-3000:] for log in logs)


# One SFT warm-start step takes the multi-process path of the warm start (per-process SFT
# batches, a state built around existing sharded params) at warmup lr 0, so the params stay
# comparable at the tight tolerance; test_warm_start_two_processes_equal_one trains for real.
WARM_START_PATH = ("--config.warm_start.sft_steps=1", "--config.warm_start.batch_size=16",
                   "--config.warm_start.max_len=32")
# The RL steps use SGD with momentum: its update is proportional to the gradient, so the two
# layouts' different summation orders stay at rounding level in the params. Adam divides each
# element by its own gradient's RMS, so an element whose gradient is itself at rounding level
# moves by up to lr in either direction: a comparison through Adam measures that noise
# amplification (one element of 5312 differed by 3e-6 after 4 steps), not the layout.
LINEAR_OPTIMIZER = ("--config.optim.name=sgd", "--config.optim.lr=0.1")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """1x8 and 2x4 runs of 2 GRPO steps (tests/configs/tiny_resume.py: 8 prompts x 4)."""
  root = tmp_path_factory.mktemp("multiprocess")
  one, two = root / "one", root / "two"
  _check(*_grpo(one, 2, 1, extra=WARM_START_PATH + LINEAR_OPTIMIZER))
  rcs, logs = _grpo(two, 2, 2, extra=WARM_START_PATH + LINEAR_OPTIMIZER)
  _check(rcs, logs)
  return root, one, two, logs


def test_two_processes_equal_one(runs):
  _, one, two, logs = runs
  _assert_same_run(one, two, step=2)
  # Only process 0 reports; both take part in every step.
  assert "Held-out evaluation" in logs[0] and "Held-out evaluation" not in logs[1]
  assert "eval @ RL step 2" in logs[0] and "eval @ RL step" not in logs[1]


def test_checkpoints_cross_process_counts(runs):
  """2 processes' checkpoint resumes on 1, and 1's on 2; both then take the same step 3."""
  root, one, two, _ = runs
  two_to_one, one_to_two = root / "two_to_one", root / "one_to_two"
  shutil.copytree(two, two_to_one)
  shutil.copytree(one, one_to_two)
  rcs, logs = _grpo(two_to_one, 3, 1, extra=LINEAR_OPTIMIZER)
  _check(rcs, logs)
  assert "at RL step 2" in logs[0]
  rcs, logs = _grpo(one_to_two, 3, 2, extra=LINEAR_OPTIMIZER)
  _check(rcs, logs)
  assert "at RL step 2" in logs[0]
  # Same rewards at step 3 (checked exactly) means both read the same prompts after resuming.
  _assert_same_run(two_to_one, one_to_two, step=3)


@pytest.mark.slow
def test_warm_start_two_processes_equal_one(tmp_path):
  """The SFT warm start reads per-process SFT batches too. Metrics only: after several AdamW
  steps, elements whose gradient is at float32 rounding level (~1e-9) move by up to lr in
  either direction, so summation order can show in single parameters (seen: 1.7e-5)."""
  warm = ("--config.warm_start.sft_steps=3", "--config.warm_start.batch_size=16",
          "--config.warm_start.max_len=32")
  _check(*_grpo(tmp_path / "one", 1, 1, extra=warm))
  _check(*_grpo(tmp_path / "two", 1, 2, extra=warm))
  _assert_same_run(tmp_path / "one", tmp_path / "two", step=1, params=False)
  assert any("sft/loss" in r for r in _metrics(tmp_path / "two"))


def test_mesh_whose_tensor_axis_spans_hosts_is_refused(tmp_path):
  rcs, logs = _grpo(tmp_path, 1, 2, extra=("--config.mesh.fsdp=1", "--config.mesh.tensor=8"),
                    timeout=120)
  assert all(rc != 0 for rc in rcs)
  assert "prompts_per_step" in logs[0] and "contiguous block" in logs[0]


_WORKER = """
import os, sys, time
import numpy as np
from r1jax import distributed, sharding
info = distributed.initialize(dict(coordinator_address=sys.argv[1], num_processes=2,
                                   process_id=int(sys.argv[2]), heartbeat_timeout_s=10,
                                   shutdown_timeout_s=120))
mesh = sharding.make_mesh({"data": -1, "fsdp": 1, "tensor": 1})
rows = sharding.batch_sharding(mesh, 1)
with distributed.fail_fast():
  for i in range(10000):
    x = distributed.global_rows(np.ones(4, np.float32), rows)
    total = float(distributed.fetch(x.sum()))
    assert total == 8.0, total
    print("step", i, flush=True)
    if sys.argv[3] == "raise" and info.process_index == 1 and i == 3:
      raise RuntimeError("reward worker exploded")
    time.sleep(0.05)
"""


def _start_workers(tmp_path, mode):
  script = tmp_path / "worker.py"
  script.write_text(_WORKER)
  addr = f"localhost:{_free_port()}"
  return [subprocess.Popen([sys.executable, str(script), addr, str(i), mode], env=_env(4),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
          for i in range(2)]


def _wait_for_step(proc, n=3):
  for line in proc.stdout:
    if line.startswith(f"step {n}"):
      return


# Documented bound (BUILD.md): survivors exit within heartbeat_timeout_s (10 here) plus the
# runtime's polling; 60 s leaves room for a loaded 2-core machine.
BOUND_S = 60


def test_killed_process_stops_the_others(tmp_path):
  procs = _start_workers(tmp_path, "kill")
  _wait_for_step(procs[1])
  procs[1].send_signal(signal.SIGKILL)
  t0 = time.monotonic()
  try:
    out = procs[0].communicate(timeout=BOUND_S)[0]
  finally:
    for p in procs:
      p.kill()
  assert procs[0].returncode != 0
  assert time.monotonic() - t0 < BOUND_S
  assert "JAX distributed service detected fatal errors" in out, out[-2000:]


def test_exception_in_one_process_stops_all(tmp_path):
  procs = _start_workers(tmp_path, "raise")
  t0 = time.monotonic()
  try:
    outs = [p.communicate(timeout=BOUND_S)[0] for p in procs]
  finally:
    for p in procs:
      p.kill()
  elapsed = time.monotonic() - t0
  # The failing process prints its traceback and leaves at once (not after the 120 s
  # shutdown barrier); the runtime then aborts the other.
  assert procs[1].returncode == 1
  assert "reward worker exploded" in outs[1] and "process 1 of 2 failed" in outs[1]
  assert procs[0].returncode != 0 and elapsed < BOUND_S
  assert "JAX distributed service detected fatal errors" in outs[0], outs[0][-2000:]
