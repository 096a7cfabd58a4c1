"""Checkpointer: sharded round trips (same and different mesh), retention, atomicity, SIGTERM."""
import os
import shutil
import signal
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from r1jax.train import checkpoint


@flax.struct.dataclass
class _State:
  """Shaped like the trainer's state: None fields, optax tuples, raw key data."""
  step: jax.Array
  params: Any
  opt_state: Any
  rng: jax.Array
  value_params: Any = None


def _mesh(shape):
  return Mesh(np.array(jax.devices()).reshape(shape), ("data", "fsdp"))


def _specs():
  # Leaf -> PartitionSpec on the 4x2 save mesh; scalars and the key replicated.
  return {"w": P("data", "fsdp"), "b": P("fsdp"), "emb": P(None, "data")}


def _make_state(mesh, seed=0):
  rng = np.random.default_rng(seed)
  params = {"w": rng.standard_normal((8, 6)).astype(np.float32),
            "b": rng.standard_normal((6,)).astype(np.float32),
            "emb": rng.standard_normal((3, 8)).astype(jnp.bfloat16)}
  params = {k: jax.device_put(v, NamedSharding(mesh, _specs()[k])) for k, v in params.items()}
  opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-3))
  grads = jax.tree.map(lambda x: jnp.ones_like(x) * 0.5, params)
  opt_state = opt.init(params)
  _, opt_state = opt.update(grads, opt_state, params)  # non-zero moments, count = 1
  rep = NamedSharding(mesh, P())
  return _State(step=jax.device_put(jnp.int32(seed + 7), rep), params=params,
                opt_state=opt_state,
                rng=jax.device_put(jax.random.key_data(jax.random.key(seed)), rep))


def _abstract(state, sharding_fn):
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding_fn(x)), state)


def _assert_same_values(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(la, lb):
    assert x.dtype == y.dtype and x.shape == y.shape
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))  # exact: storage is lossless


EXTRA = {"data": {"epoch": 2, "position": 37, "order": [3, 1, 2]},
         "config": {"lr": 1e-6, "name": "tiny", "flags": [True, False], "none": None}}


def test_round_trip_same_mesh(tmp_path):
  mesh = _mesh((4, 2))
  state = _make_state(mesh)
  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt")
  assert ckpt.latest_step() is None
  assert ckpt.save(10, state, EXTRA)
  ckpt.wait()
  assert ckpt.latest_step() == 10
  target = _abstract(state, lambda x: x.sharding)
  restored, extra = ckpt.restore(abstract_state=target)
  ckpt.close()
  assert isinstance(restored, _State) and restored.value_params is None
  _assert_same_values(state, restored)
  for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(target)):
    assert got.sharding == want.sharding
  assert restored.rng.dtype == jnp.uint32
  assert extra == EXTRA


def test_restore_into_different_mesh(tmp_path):
  state = _make_state(_mesh((4, 2)))
  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", async_save=False)
  ckpt.save(1, state, {})
  new_mesh = _mesh((2, 4))
  # Swap which mesh axis splits each dimension, so every shard is cut differently.
  new_specs = {"w": P("fsdp", "data"), "b": P("data"), "emb": P(None, "fsdp")}

  def sharding_fn(x):
    for name, spec in new_specs.items():
      if x.shape == state.params[name].shape:
        return NamedSharding(new_mesh, spec)
    return NamedSharding(new_mesh, P())

  target = _abstract(state, sharding_fn)
  restored, extra = ckpt.restore(1, abstract_state=target)
  ckpt.close()
  assert extra == {}
  _assert_same_values(state, restored)
  for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(target)):
    assert got.sharding == want.sharding
  # Each device holds exactly its slice of the full array under the new sharding.
  full_w = np.asarray(state.params["w"])
  for shard in restored.params["w"].addressable_shards:
    assert shard.data.shape == (2, 3)
    np.testing.assert_array_equal(np.asarray(shard.data), full_w[shard.index])


def test_async_save_survives_deleted_buffers(tmp_path):
  # The trainer donates the state to its next step right after save() returns; the async save
  # must already hold its own host copy by then.
  state = _make_state(_mesh((4, 2)))
  expected = jax.tree.map(np.asarray, state)
  target = _abstract(state, lambda x: x.sharding)
  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", async_save=True)
  ckpt.save(1, state, {})
  for leaf in jax.tree.leaves(state):
    leaf.delete()
  ckpt.wait()
  restored, _ = ckpt.restore(abstract_state=target)
  ckpt.close()
  _assert_same_values(expected, restored)


def test_keep_latest_n(tmp_path):
  state = _make_state(_mesh((8, 1)))
  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", keep=2)
  for step in range(1, 6):
    assert ckpt.save(step, state, {"step": step})
  ckpt.wait()
  assert ckpt.all_steps() == [4, 5]
  assert ckpt.best_step() is None
  ckpt.close()
  assert sorted(int(p.name) for p in (tmp_path / "ckpt").iterdir() if p.name.isdigit()) == [4, 5]


@pytest.mark.parametrize("mode, values, kept, best", [
    ("max", [0.5, 0.9, 0.1, 0.2, 0.3], [2, 4, 5], 2),
    ("min", [0.5, 0.9, 0.1, 0.2, 0.3], [3, 4, 5], 3),
    # NaN never ranks best, whichever the mode.
    ("max", [0.5, float("nan"), 0.1, 0.2, 0.3], [1, 4, 5], 1),
    ("min", [0.15, float("nan"), 0.7, 0.2, 0.3], [1, 4, 5], 1),
])
def test_keep_best_by_metric(tmp_path, mode, values, kept, best):
  state = _make_state(_mesh((8, 1)))
  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", keep=2, best_metric="acc", best_mode=mode)
  for step, v in enumerate(values, start=1):
    ckpt.save(step, state, {}, metrics={"acc": np.float32(v), "other": 1})
  ckpt.wait()
  assert ckpt.all_steps() == kept
  assert ckpt.best_step() == best
  ckpt.close()


def test_best_survives_restart_and_unranked_saves(tmp_path):
  state = _make_state(_mesh((8, 1)))
  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", keep=1, best_metric="acc", keep_best=2)
  for step, v in [(1, 0.9), (2, 0.1), (3, 0.8)]:
    ckpt.save(step, state, {}, metrics={"acc": v})
  ckpt.close()
  # A new manager reads the stored metrics back; steps saved without metrics only live as latest.
  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", keep=1, best_metric="acc", keep_best=2)
  assert ckpt.all_steps() == [1, 3]
  ckpt.save(4, state, {})
  ckpt.save(5, state, {})
  ckpt.wait()
  assert ckpt.all_steps() == [1, 3, 5]
  assert ckpt.best_step() == 1
  ckpt.close()


def test_relative_directory(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  state = _make_state(_mesh((8, 1)))
  ckpt = checkpoint.Checkpointer("runs/ckpt", async_save=False)
  ckpt.save(1, state, {"ok": True})
  assert ckpt.restore(abstract_state=_abstract(state, lambda x: x.sharding))[1] == {"ok": True}
  ckpt.close()
  assert (tmp_path / "runs" / "ckpt" / "1").is_dir()


def test_existing_step_is_skipped(tmp_path):
  state = _make_state(_mesh((8, 1)))
  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt")
  assert ckpt.save(3, state, {"a": 1})
  assert not ckpt.save(3, state, {"a": 2}, force=True)
  target = _abstract(state, lambda x: x.sharding)
  _, extra = ckpt.restore(abstract_state=target)
  ckpt.close()
  assert extra == {"a": 1}


def test_unfinalised_step_is_never_restored(tmp_path):
  state = _make_state(_mesh((8, 1)))
  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt")
  ckpt.save(1, state, {"step": 1})
  ckpt.save(2, state, {"step": 2})
  ckpt.close()
  # A complete copy of step 2 under orbax's temporary name: written but never finalised
  # (renamed), which is how a save interrupted by a crash looks on a local filesystem.
  partial = tmp_path / "ckpt" / "7.orbax-checkpoint-tmp-1700000000"
  shutil.copytree(tmp_path / "ckpt" / "2", partial)
  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt")
  assert ckpt.latest_step() == 2 and ckpt.all_steps() == [1, 2]
  target = _abstract(state, lambda x: x.sharding)
  assert ckpt.restore(abstract_state=target)[1] == {"step": 2}
  with pytest.raises(FileNotFoundError, match="step 7 not found"):
    ckpt.restore(7, abstract_state=target)
  ckpt.close()
  assert not partial.exists()  # cleaned up on start


def test_bad_inputs_name_the_field(tmp_path):
  mesh = _mesh((8, 1))
  state = _make_state(mesh)
  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", best_metric="acc")
  with pytest.raises(ValueError, match="lack best_metric 'acc'"):
    ckpt.save(1, state, {}, metrics={"loss": 1.0})
  with pytest.raises(ValueError, match="metric 'acc' must be a scalar"):
    ckpt.save(1, state, {}, metrics={"acc": [0.5, 0.6]})
  with pytest.raises(ValueError, match="not JSON-serialisable"):
    ckpt.save(1, state, {"pos": np.int64(3)})
  keyed = state.replace(rng=jax.random.key(0))
  with pytest.raises(ValueError, match=r"\.rng is a typed PRNG key"):
    ckpt.save(1, keyed, {})
  with pytest.raises(FileNotFoundError, match="no finalised checkpoint"):
    ckpt.restore(abstract_state=_abstract(state, lambda x: x.sharding))
  target = _abstract(state, lambda x: x.sharding)
  b = state.params["b"]
  unsharded_b = jax.ShapeDtypeStruct(b.shape, b.dtype)
  no_sharding = target.replace(params={**target.params, "b": unsharded_b})
  with pytest.raises(ValueError, match=r"abstract_state\.params\['b'\] must be"):
    ckpt.restore(abstract_state=no_sharding)
  ckpt.close()
  with pytest.raises(ValueError, match="best_mode"):
    checkpoint.Checkpointer(tmp_path / "other", best_mode="largest")


def test_sigterm_sets_preemption_flag():
  previous = checkpoint.install_sigterm_handler()
  try:
    assert not checkpoint.preemption_requested()
    os.kill(os.getpid(), signal.SIGTERM)
    assert checkpoint.preemption_requested()  # the process is still alive to save and exit
    checkpoint.install_sigterm_handler()  # re-installing starts from a clear flag
    assert not checkpoint.preemption_requested()
  finally:
    signal.signal(signal.SIGTERM, previous)
  assert signal.getsignal(signal.SIGTERM) is previous


def _truncate(path):
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])


# Corruptions of a finished step that break its restore, each with its own error type deep in
# orbax/tensorstore (JSON, KeyError, tensorstore, pytree): the fallback must catch all of them.
_CORRUPTIONS = {
    "extra_truncated": lambda d: _truncate(d / "extra" / "metadata"),
    "extra_lacks_a_key": lambda d: (d / "extra" / "metadata").write_text("{}"),
    "state_metadata_garbage": lambda d: (d / "state" / "_METADATA").write_text("garbage"),
    "array_data_truncated": lambda d: [_truncate(p) for p in (d / "state").rglob("*")
                                       if p.is_file() and p.parent.name == "d"],
    "state_manifest_deleted": lambda d: (d / "state" / "manifest.ocdbt").unlink(),
    "state_item_deleted": lambda d: shutil.rmtree(d / "state"),
}


@pytest.mark.parametrize("corruption", sorted(_CORRUPTIONS))
def test_corrupt_latest_falls_back_to_the_previous_good_step(tmp_path, corruption):
  mesh = _mesh((4, 2))
  states = {s: _make_state(mesh, seed=s) for s in (1, 2)}
  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", keep=3, async_save=False)
  for s, st in states.items():
    ckpt.save(s, st, {"rl_step": s})
  ckpt.close()
  _CORRUPTIONS[corruption](tmp_path / "ckpt" / "2")
  abstract = _abstract(states[1], lambda x: x.sharding)
  check = lambda state, extra: int(extra["rl_step"])  # The trainer's use of `extra`.

  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", keep=3, async_save=False)
  with pytest.raises(checkpoint.CheckpointError) as err:
    ckpt.restore_latest_good(abstract_state=abstract, check=check, strict=True)
  assert "\n" not in str(err.value) and str(tmp_path / "ckpt" / "2") in str(err.value)
  assert ckpt.all_steps() == [1, 2]  # Strict: refused, nothing moved.

  notes = []
  step, state, extra = ckpt.restore_latest_good(abstract_state=abstract, check=check,
                                                log=notes.append)
  assert step == 1 and extra == {"rl_step": 1}
  _assert_same_values(states[1], state)
  assert notes[0].startswith(f"warning: checkpoint step 2 in {tmp_path / 'ckpt' / '2'} does "
                             "not restore: ") and "\n" not in notes[0]
  # The bad step is kept aside, and step 2 can be saved again by the resumed run.
  assert ckpt.all_steps() == [1]
  assert len(list((tmp_path / "ckpt_skipped").iterdir())) == 1
  assert ckpt.save(2, states[2], {"rl_step": 2})
  ckpt.close()


def test_no_good_step_refuses_in_one_line(tmp_path):
  mesh = _mesh((4, 2))
  state = _make_state(mesh)
  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", keep=3, async_save=False)
  ckpt.save(1, state, {"rl_step": 1})
  ckpt.close()
  (tmp_path / "ckpt" / "1" / "extra" / "metadata").write_text("{")
  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", keep=3, async_save=False)
  with pytest.raises(checkpoint.CheckpointError, match=r"no checkpoint step in .* restores"):
    ckpt.restore_latest_good(abstract_state=_abstract(state, lambda x: x.sharding),
                             log=lambda _: None)
  assert ckpt.all_steps() == [1]


_SAVE_ON_FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # Writes past the limit fail with EFBIG instead.
import jax.numpy as jnp
from r1jax.train import checkpoint
import numpy as np
ckpt = checkpoint.Checkpointer(sys.argv[1], keep=3, async_save=sys.argv[2] == "async")
ckpt.save(1, {"w": jnp.zeros((4,))}, {"rl_step": 1})
ckpt.wait()
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
state = {"w": jnp.asarray(np.random.default_rng(0).standard_normal(200_000), jnp.float32)}
try:
  ckpt.save(2, state, {"rl_step": 2})
  print("save returned", flush=True)
  ckpt.close()
except checkpoint.CheckpointSaveError as e:
  print("CheckpointSaveError:", e, flush=True)
"""


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_failed_save_raises_naming_step_path_and_os_error(tmp_path, mode):
  """Disk full, via a file-size limit: a save raises at that save, synchronous or not (an
  asynchronous one through its check before the background write starts)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  proc = subprocess.run([sys.executable, "-c", _SAVE_ON_FULL_DISK, str(tmp_path), mode],
                        capture_output=True, text=True, timeout=300,
                        env={**os.environ, "JAX_PLATFORMS": "cpu"})
  lines = proc.stdout.splitlines()
  errors = [l for l in lines if l.startswith("CheckpointSaveError:")]
  assert len(errors) == 1, proc.stdout + proc.stderr[-3000:]
  assert f"saving checkpoint step 2 to {tmp_path / '2'} failed" in errors[0]
  assert "File too large" in errors[0]
  assert "save returned" not in lines
  assert sorted(p.name for p in tmp_path.iterdir() if p.name.isdigit()) == ["1"]


def test_async_save_failing_in_the_background_raises_at_the_next_save_naming_its_step(tmp_path):
  # A failure only the background write meets (the check before it passed): the next save
  # raises, naming the step that failed, not the one being saved.
  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", async_save=True)
  ckpt.save(1, {"w": jnp.zeros((4,))}, {"rl_step": 1})
  def failed():
    raise OSError(5, "Input/output error")
  ckpt._manager.wait_until_finished = failed  # pylint: disable=protected-access
  with pytest.raises(checkpoint.CheckpointSaveError,
                     match=rf"^saving checkpoint step 1 to {tmp_path / 'ckpt' / '1'} failed: "
                           r"OSError: \[Errno 5\] Input/output error$"):
    ckpt.save(2, {"w": jnp.ones((4,))}, {"rl_step": 2})
  del ckpt._manager.wait_until_finished  # pylint: disable=protected-access
  ckpt.close()


def test_async_save_refuses_at_that_save_when_the_directory_takes_no_file(tmp_path,
                                                                          monkeypatch):
  ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", async_save=True)
  real_open = open
  def no_room(path, *args, **kwargs):
    if ".r1jax_probe." in str(path):
      raise OSError(28, "No space left on device", str(path))
    return real_open(path, *args, **kwargs)
  monkeypatch.setattr("builtins.open", no_room)
  with pytest.raises(checkpoint.CheckpointSaveError,
                     match=rf"^saving checkpoint step 3 to {tmp_path / 'ckpt' / '3'} failed: "
                           r"OSError: \[Errno 28\] No space left on device"):
    ckpt.save(3, {"w": jnp.zeros((4,))}, {"rl_step": 3})
  monkeypatch.undo()
  assert ckpt.all_steps() == []
  ckpt.close()
