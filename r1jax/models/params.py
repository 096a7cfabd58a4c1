"""A model's parameters from its config: abstract shapes, shardings, sharded random init.

Kept beside the model so that r1jax/sharding.py (meshes and rules) never imports it.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from r1jax import sharding
from r1jax.models.transformer import ModelConfig, Transformer


@functools.lru_cache(maxsize=16)
def abstract_params(config: ModelConfig):
  """Boxed (nn.LogicallyPartitioned) ShapeDtypeStructs of the params; no compute, no memory.

  Cached per (frozen, hashable) config: tracing the model's init costs ~0.2 s on a CPU and a
  run asks for it several times (shardings of policy and reference, loading, publishing). The
  cached tree is shared: callers read it or `unbox` it into a new tree, never mutate it.
  """
  tokens = jax.ShapeDtypeStruct((1, 1), jnp.int32)
  return jax.eval_shape(lambda r, t: Transformer(config).init(r, t)["params"],
                        jax.random.key(0), tokens)


def param_shardings(config: ModelConfig, mesh: Mesh, rules=sharding.DEFAULT_RULES):
  """A pytree of NamedSharding matching the (unboxed) params tree."""
  return sharding.tree_shardings(abstract_params(config), mesh, rules)


def init_params(config: ModelConfig, rng: jax.Array, mesh: Mesh | None = None,
                rules=sharding.DEFAULT_RULES):
  """Random params created directly in their shardings (never whole on one device)."""
  # Rules as hashable tuples (a config may give lists) for the cache below.
  rules = tuple((name, tuple(axes) if isinstance(axes, list) else axes) for name, axes in rules)
  return _jitted_init(config, mesh, rules)(rng)


@functools.lru_cache(maxsize=16)
def _jitted_init(config: ModelConfig, mesh: Mesh | None, rules):
  """The init jitted once per (config, mesh, rules). A jit of a fresh closure traces and
  lowers the model's init again on every call (~0.4 s on a CPU), and a process that builds
  several runs (a sweep's evaluations, a test session's hundreds of small runs) asks for the
  same model again and again."""
  def init(r):
    return nn.meta.unbox(Transformer(config).init(r, jnp.zeros((1, 1), jnp.int32))["params"])
  if mesh is None:
    return jax.jit(init)
  return jax.jit(init, out_shardings=param_shardings(config, mesh, rules))
