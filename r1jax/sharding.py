"""All sharding decisions in one place: the mesh, logical axis rules, sharded init.

Mesh axes are ('data', 'fsdp', 'tensor'). Parameters carry logical axis names (see
models/transformer.py); `rules` map them to mesh axes and live in the experiment config.
Usage, in the style of flax's lm1b example:

  mesh = make_mesh({'data': -1, 'fsdp': 2, 'tensor': 1})
  params = init_params(model_config, rng, mesh, rules)        # created already sharded
  with activation_sharding(mesh, rules):                       # activation constraints
    step = jax.jit(train_step, in_shardings=..., out_shardings=..., donate_argnums=0)
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P


MESH_AXES = ("data", "fsdp", "tensor")
BATCH_AXES = ("data", "fsdp")  # The batch is split over both: FSDP is data parallel too.

# logical name -> mesh axis (or tuple of axes, or None = replicated).
DEFAULT_RULES: tuple[tuple[str, Any], ...] = (
    ("batch", BATCH_AXES),
    ("activation_batch", BATCH_AXES),
    ("activation_length", None),
    ("activation_embed", None),
    ("activation_vocab", "tensor"),
    ("cache_batch", BATCH_AXES),
    ("cache_length", None),
    ("cache_kv_heads", "tensor"),
    ("vocab", "tensor"),
    ("embed", "fsdp"),
    ("heads", "tensor"),
    ("kv_heads", "tensor"),
    ("mlp", "tensor"),
    ("head_dim", None),
    ("norm", None),
    ("layers", None),
)


def make_mesh(axes: Mapping[str, int], devices: Sequence[jax.Device] | None = None) -> Mesh:
  """Mesh over `devices` (default: all) with sizes from `axes`; one size may be -1 (fill)."""
  devices = list(jax.devices() if devices is None else devices)
  unknown = set(axes) - set(MESH_AXES)
  if unknown:
    raise ValueError(f"mesh: unknown axis {sorted(unknown)}; axes are {MESH_AXES}")
  sizes = {a: int(axes.get(a, 1)) for a in MESH_AXES}
  fill = [a for a, s in sizes.items() if s == -1]
  for a, s in sizes.items():
    if s == 0 or s < -1:
      raise ValueError(f"mesh.{a} must be a positive size or -1 (fill), got {s}")
  if len(fill) > 1:
    raise ValueError(f"mesh: only one axis may be -1 (fill), got {fill}")
  known = math.prod(s for s in sizes.values() if s != -1)
  if fill:
    if len(devices) % known:
      raise ValueError(f"mesh.{fill[0]}=-1: {len(devices)} devices are not divisible by the "
                       f"product of the other axes ({known})")
    sizes[fill[0]] = len(devices) // known
  total = math.prod(sizes.values())
  if total != len(devices):
    raise ValueError(f"mesh: data*fsdp*tensor = {sizes['data']}*{sizes['fsdp']}*"
                     f"{sizes['tensor']} = {total} must equal the device count {len(devices)}")
  shape = tuple(sizes[a] for a in MESH_AXES)
  dev_array = np.asarray(devices, dtype=object).reshape(shape)
  # Auto axes: GSPMD propagates shardings between our explicit jit in/out shardings.
  return Mesh(dev_array, MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES))


def _fit(spec: P, shape: Sequence[int], mesh: Mesh) -> P:
  """Drops mesh axes from dims they do not divide (those dims are replicated instead).

  Small models (a char vocabulary of 83, 2 kv heads on tensor=4) would otherwise be
  unshardable; replication is exact, only less memory-efficient.
  """
  out = []
  for dim, axes in zip(shape, tuple(spec) + (None,) * (len(shape) - len(spec))):
    if axes is None:
      out.append(None)
      continue
    names = axes if isinstance(axes, tuple) else (axes,)
    kept, size = [], 1
    for a in names:
      if dim % (size * mesh.shape[a]) == 0:
        kept.append(a)
        size *= mesh.shape[a]
    out.append(None if not kept else (kept[0] if len(kept) == 1 else tuple(kept)))
  return P(*out)


def logical_sharding(logical_axes: Sequence[str | None], shape: Sequence[int], mesh: Mesh,
                     rules=DEFAULT_RULES) -> NamedSharding:
  """NamedSharding for an array of `shape` whose dims carry `logical_axes`."""
  spec = nn.logical_to_mesh_axes(tuple(logical_axes), rules)
  return NamedSharding(mesh, _fit(spec, shape, mesh))


def tree_shardings(boxed_abstract, mesh: Mesh, rules=DEFAULT_RULES):
  """NamedShardings for an abstract tree of boxed (nn.LogicallyPartitioned) arrays, e.g. a
  model's `jax.eval_shape`d init (models/params.py), matching the unboxed tree."""
  specs = nn.get_partition_spec(boxed_abstract)
  shapes = nn.meta.unbox(boxed_abstract)
  return jax.tree.map(
      lambda spec, s: NamedSharding(mesh, _fit(nn.logical_to_mesh_axes(tuple(spec), rules),
                                               s.shape, mesh)),
      specs, shapes, is_leaf=lambda x: isinstance(x, P))


def batch_sharding(mesh: Mesh, ndim: int = 2) -> NamedSharding:
  """Leading (batch) dim over the data axes, the rest replicated."""
  return NamedSharding(mesh, P(BATCH_AXES, *([None] * (ndim - 1))))


@contextlib.contextmanager
def activation_sharding(mesh: Mesh, rules=DEFAULT_RULES):
  """Makes the model's `with_logical_constraint`s active while tracing inside this block."""
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    yield


def rules_from_config(rules: Sequence[Sequence[Any]] | None):
  """Config lists (['embed', 'fsdp'], ['batch', ['data', 'fsdp']]) -> flax rule tuples."""
  if rules is None:
    return DEFAULT_RULES
  out = []
  for i, r in enumerate(rules):
    if len(r) != 2:
      raise ValueError(f"mesh.rules[{i}] must be a (logical_name, mesh_axes) pair, got {r!r}")
    name, axes = r
    if isinstance(axes, (list, tuple)):
      axes = tuple(axes)
    for a in (axes if isinstance(axes, tuple) else (axes,)):
      if a is not None and a not in MESH_AXES:
        raise ValueError(f"mesh.rules[{i}]: unknown mesh axis {a!r}; axes are {MESH_AXES}")
    out.append((name, axes))
  return tuple(out)
