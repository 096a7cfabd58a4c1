"""Multi-process runs on JAX's own distributed runtime: start-up, batches, host values.

One process per host (TPU VM worker, GPU node) or, for tests, several processes on one machine
with CPU devices and gloo collectives. The trainer is the same program in every process:

  info = initialize(config.distributed)        # before anything touches a device
  ...
  rows = sharding.batch_sharding(mesh, 2)
  prompts = global_rows(local_prompts_BxP, rows)   # this process's rows -> one global array
  local = local_rows(out.tokens_NxT)               # and back: the rows this process holds
  values = allgather_rows(local_rewards_N)         # every process's rows, in process order

Row layout. Process p's pipeline reads the p-th share of each global batch, and global arrays
are the process batches concatenated in process order, so a batch axis split over the mesh's
batch axes (data x fsdp) must give each process one contiguous block of rows:
`check_row_layout` refuses meshes that do not (e.g. a tensor axis spanning hosts).

Failures. The runtime's coordination service watches every process: when one dies (crash,
SIGKILL, lost host) the others are aborted with "Terminating process because the JAX
distributed service detected fatal errors": within seconds when process 0 (the coordinator)
died, else once its heartbeats have been missing for `heartbeat_timeout_s`. A Python exception would otherwise leave the failing
process waiting at the runtime's shutdown barrier for `shutdown_timeout_s` while the others
block in their next collective; `fail_fast` ends such a process at once instead.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import traceback
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding

ENABLED = ("auto", "on", "off")


@dataclasses.dataclass(frozen=True)
class Settings:
  """`config.distributed` as plain values (see train/defaults.py for each field)."""
  enabled: str = "auto"
  coordinator_address: str = ""
  num_processes: int = 0
  process_id: int = -1
  local_device_ids: str = ""
  initialization_timeout_s: int = 300
  heartbeat_timeout_s: int = 60
  shutdown_timeout_s: int = 60
  cpu_collectives: str = "gloo"

  @classmethod
  def from_config(cls, cfg: Mapping[str, Any] | None) -> "Settings":
    if cfg is None:
      return cls()
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(cfg) - known)
    if unknown:
      raise ValueError(f"distributed: unknown field(s) {unknown}; known: {sorted(known)}")
    return cls(**{k: cfg[k] for k in cfg})

  def validate(self) -> None:
    if self.enabled not in ENABLED:
      raise ValueError(f"distributed.enabled must be one of {ENABLED}, got {self.enabled!r}")
    if self.coordinator_address and ":" not in self.coordinator_address:
      raise ValueError("distributed.coordinator_address must be host:port, got "
                       f"{self.coordinator_address!r}")
    if self.coordinator_address and (self.num_processes < 1 or self.process_id < 0):
      raise ValueError("distributed.coordinator_address needs distributed.num_processes >= 1 "
                       "and distributed.process_id >= 0 (the launcher passes both)")
    if self.process_id >= 0 and self.num_processes and self.process_id >= self.num_processes:
      raise ValueError(f"distributed.process_id {self.process_id} must be below "
                       f"distributed.num_processes {self.num_processes}")
    for name in ("initialization_timeout_s", "heartbeat_timeout_s", "shutdown_timeout_s"):
      if getattr(self, name) < 1:
        raise ValueError(f"distributed.{name} must be >= 1 second, got {getattr(self, name)}")
    if self.cpu_collectives not in ("gloo", "mpi", "none"):
      raise ValueError("distributed.cpu_collectives must be gloo, mpi or none, got "
                       f"{self.cpu_collectives!r}")
    try:
      _device_ids(self.local_device_ids)
    except ValueError:
      raise ValueError("distributed.local_device_ids must be comma-separated integers, got "
                       f"{self.local_device_ids!r}") from None


def _device_ids(text: str) -> list[int] | None:
  return [int(x) for x in text.split(",")] if text.strip() else None


def detect_cluster(env: Mapping[str, str]) -> str | None:
  """The multi-process launcher this environment shows, or None for a single process.

  Only launchers that started more than one process count: a one-task SLURM job or a
  single-host TPU VM runs as a plain single process. Multi-host Cloud TPU VMs are found by
  JAX from the VM metadata, which needs a network call; launch/tpu_vm.sh therefore passes
  enabled=on rather than relying on this.
  """
  def count(name):
    try:
      return int(env.get(name, "1"))
    except ValueError:
      return 1
  if env.get("JAX_COORDINATOR_ADDRESS"):
    return "explicit"
  if "SLURM_JOB_ID" in env and "SLURM_PROCID" in env and count("SLURM_STEP_NUM_TASKS") > 1:
    return "slurm"
  if count("OMPI_COMM_WORLD_SIZE") > 1:
    return "ompi"
  hosts = env.get("TPU_PROCESS_ADDRESSES") or env.get("TPU_WORKER_HOSTNAMES") or ""
  if len([h for h in hosts.split(",") if h]) > 1:
    return "tpu"
  return None


def init_kwargs(s: Settings, env: Mapping[str, str]) -> dict | None:
  """Arguments for jax.distributed.initialize, or None to stay a single process."""
  s.validate()
  if s.enabled == "off":
    return None
  if s.enabled == "auto" and not s.coordinator_address and detect_cluster(env) is None:
    return None
  kwargs = dict(initialization_timeout=s.initialization_timeout_s,
                heartbeat_timeout_seconds=s.heartbeat_timeout_s,
                shutdown_timeout_seconds=s.shutdown_timeout_s)
  if s.coordinator_address:  # Explicit: every process is told everything.
    kwargs.update(coordinator_address=s.coordinator_address, num_processes=s.num_processes,
                  process_id=s.process_id)
  # Otherwise JAX fills what is unset from the cluster (SLURM, Open MPI, TPU metadata).
  if s.local_device_ids:
    kwargs["local_device_ids"] = _device_ids(s.local_device_ids)
  return kwargs


@dataclasses.dataclass(frozen=True)
class Info:
  process_index: int
  process_count: int
  local_devices: int
  global_devices: int


def initialize(cfg: Mapping[str, Any] | Settings | None = None,
               env: Mapping[str, str] | None = None) -> Info:
  """Starts the distributed runtime if the config or the environment asks for it.

  Call once per process before any JAX computation (entry points do). Safe to call again:
  later calls only report.
  """
  s = cfg if isinstance(cfg, Settings) else Settings.from_config(cfg)
  kwargs = init_kwargs(s, os.environ if env is None else env)
  if kwargs is not None and not jax.distributed.is_initialized():
    if s.cpu_collectives != "none":
      # CPU devices need a collectives library to talk across processes (tests, CPU clusters);
      # GPUs and TPUs ignore this and use NCCL / ICI.
      jax.config.update("jax_cpu_collectives_implementation", s.cpu_collectives)
    jax.distributed.initialize(**kwargs)
  return Info(jax.process_index(), jax.process_count(), jax.local_device_count(),
              jax.device_count())


def is_primary() -> bool:
  """Process 0 writes logs, summaries and plots; every process runs the computation."""
  return jax.process_index() == 0


@contextlib.contextmanager
def fail_fast():
  """In a multi-process run, an exception ends this process at once (exit status 1).

  Without this, the failing process would wait at the runtime's shutdown barrier (up to
  shutdown_timeout_s) while the others block in a collective. Gone, it is noticed like a
  crash: at once if it was process 0, else within heartbeat_timeout_s, and the runtime aborts
  the others. The traceback is printed first. Single-process runs are untouched.
  """
  try:
    yield
  except BaseException as e:  # pylint: disable=broad-except
    # A clean exit, or the preempted status (75, exit_status.py): every process stops at the
    # same step after the same save, so none is left waiting.
    if jax.process_count() == 1 or isinstance(e, SystemExit) and e.code in (None, 0, 75):
      raise
    traceback.print_exc()
    print(f"process {jax.process_index()} of {jax.process_count()} failed ({type(e).__name__});"
          " exiting now so the other processes stop too", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(1)  # pylint: disable=protected-access


def process_rows(sharding: NamedSharding, num_rows: int) -> dict[int, tuple[int, int]]:
  """process index -> [start, stop) of the rows its devices hold along axis 0."""
  out: dict[int, set[tuple[int, int]]] = {}
  for device, index in sharding.devices_indices_map((num_rows,)).items():
    start, stop, _ = index[0].indices(num_rows)
    out.setdefault(device.process_index, set()).add((start, stop))
  rows = {}
  for p, spans in out.items():
    lo, hi = min(a for a, _ in spans), max(b for _, b in spans)
    covered = sum(b - a for a, b in spans)  # Distinct spans; replicas collapse in the set.
    if covered != hi - lo:
      raise ValueError(f"process {p} holds non-contiguous rows {sorted(spans)}")
    rows[p] = (lo, hi)
  return rows


def check_row_layout(mesh: Mesh, batch_axes, num_rows: int, what: str = "batch") -> None:
  """Each process must hold its own contiguous 1/process_count of the rows, in process order."""
  n = jax.process_count()
  if n == 1:
    return
  sharding = NamedSharding(mesh, jax.sharding.PartitionSpec(batch_axes))
  per = num_rows // n
  expected = {p: (p * per, (p + 1) * per) for p in range(n)}
  try:
    got = process_rows(sharding, num_rows)
  except ValueError as e:
    got = str(e)
  if num_rows % n or got != expected:
    raise ValueError(
        f"{what}: {num_rows} rows over mesh {dict(mesh.shape)} do not give each of the {n} "
        f"processes its own contiguous block (got {got}); keep the tensor axis within a host "
        f"and make data*fsdp a multiple of the process count")


def global_rows(local: Any, sharding: NamedSharding) -> jax.Array:
  """This process's rows (numpy/jax, leading batch axis) -> the global row-sharded array."""
  local = np.asarray(local)
  if jax.process_count() == 1:
    return jax.device_put(local, sharding)
  shape = (local.shape[0] * jax.process_count(), *local.shape[1:])
  return jax.make_array_from_process_local_data(sharding, local, shape)


def local_rows(x: jax.Array) -> np.ndarray:
  """The rows (axis 0) of a row-sharded array held by this process's devices, as numpy."""
  if not isinstance(x, jax.Array) or x.is_fully_addressable:
    return np.asarray(x)
  if x.is_fully_replicated:
    return np.asarray(x.addressable_data(0))
  shards = {}
  for s in x.addressable_shards:
    shards.setdefault(s.index[0].indices(x.shape[0])[0], s.data)
  return np.concatenate([np.asarray(shards[k]) for k in sorted(shards)])


def fetch(tree: Any) -> Any:
  """device_get that also works for global arrays: every process gets the whole value."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  def get(x):
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
      return np.asarray(x)
    if x.is_fully_replicated:
      return np.asarray(x.addressable_data(0))
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
  return jax.tree.map(get, tree)


def allgather_rows(local: Any) -> np.ndarray:
  """Concatenates every process's rows in process order (identity with one process)."""
  local = np.asarray(local)
  if jax.process_count() == 1:
    return local
  return np.asarray(multihost_utils.process_allgather(local, tiled=True))


def allgather_json(obj: Any) -> list[Any]:
  """Every process's JSON-serialisable `obj`, indexed by process (e.g. data positions)."""
  if jax.process_count() == 1:
    return [obj]
  data = np.frombuffer(json.dumps(obj).encode(), np.uint8)
  sizes = multihost_utils.process_allgather(np.asarray([data.size], np.int64)).reshape(-1)
  padded = np.zeros(int(sizes.max()), np.uint8)
  padded[:data.size] = data
  rows = multihost_utils.process_allgather(padded).reshape(len(sizes), -1)
  return [json.loads(bytes(rows[p, :sizes[p]]).decode()) for p in range(len(sizes))]
