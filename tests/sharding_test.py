"""Sharded model == unsharded model, for logits and for a gradient step (8 host devices)."""
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import xla_env

from r1jax import sharding
from r1jax.models import presets
from r1jax.models.transformer import Transformer
from r1jax.models import params as params_lib

# Sharded matmuls reduce in a different order; float32 values agree to ~1e-6 relative.
ATOL = 2e-5

MESHES = [dict(data=2, fsdp=2, tensor=2), dict(fsdp=8), dict(data=-1, tensor=2)]


def _cfg():
  # kv_heads=2 and vocab 128 divide tensor=2; d_model 64 divides fsdp=8.
  return presets.get("tiny", qkv_bias=True)


def _batch():
  rng = np.random.default_rng(0)
  return jnp.asarray(rng.integers(0, 128, (8, 12)), jnp.int32)


def _loss(params, cfg, toks):
  logits = Transformer(cfg).apply({"params": params}, toks[:, :-1])
  logp = jax.nn.log_softmax(logits)
  return -jnp.mean(jnp.take_along_axis(logp, toks[:, 1:, None], -1))


def _step(params, opt_state, toks, cfg, opt):
  loss, grads = jax.value_and_grad(_loss)(params, cfg, toks)
  updates, opt_state = opt.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, loss, grads


@pytest.mark.parametrize("axes", MESHES, ids=str)
def test_sharded_logits_and_train_step_match_unsharded(axes):
  assert len(jax.devices()) == 8
  cfg, toks = _cfg(), _batch()
  # SGD, not Adam: Adam's first update is ~lr*sign(g), which turns round-off in near-zero
  # gradients into O(lr) differences and would test Adam's conditioning, not sharding.
  opt = optax.sgd(0.5)
  ref_params = params_lib.init_params(cfg, jax.random.key(0))
  ref_logits = Transformer(cfg).apply({"params": ref_params}, toks)
  ref_new, _, ref_loss, ref_grads = jax.jit(_step, static_argnums=(3, 4))(
      ref_params, opt.init(ref_params), toks, cfg, opt)

  mesh = sharding.make_mesh(axes)
  params = params_lib.init_params(cfg, jax.random.key(0), mesh)
  # Params really are sharded (not replicated) where the rules say so.
  assert not params["layers"]["mlp"]["up_proj"]["kernel"].sharding.is_fully_replicated
  p_shard = jax.tree.map(lambda x: x.sharding, params)
  b_shard = sharding.batch_sharding(mesh)
  with sharding.activation_sharding(mesh):
    logits = jax.jit(lambda p, t: Transformer(cfg).apply({"params": p}, t),
                     in_shardings=(p_shard, b_shard))(params, toks)
    opt_state = jax.jit(opt.init)(params)
    step = jax.jit(_step, static_argnums=(3, 4), donate_argnums=(0, 1),
                   in_shardings=(p_shard, None, b_shard),
                   out_shardings=(p_shard, None, None, p_shard))
    new_params, _, loss, grads = step(params, opt_state, toks, cfg, opt)
  np.testing.assert_allclose(logits, ref_logits, atol=ATOL)
  np.testing.assert_allclose(loss, ref_loss, atol=ATOL)
  for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads)):
    np.testing.assert_allclose(a, b, atol=ATOL)
  for a, b in zip(jax.tree.leaves(new_params), jax.tree.leaves(ref_new)):
    np.testing.assert_allclose(a, b, atol=ATOL)


def test_uneven_dims_fall_back_to_replication():
  mesh = sharding.make_mesh(dict(tensor=8))
  cfg = presets.get("tiny", vocab_size=83)  # 83 is prime: vocab cannot be split.
  shard = params_lib.param_shardings(cfg, mesh)
  assert shard["embed"]["embedding"].spec[0] is None
  assert shard["layers"]["mlp"]["up_proj"]["kernel"].spec[2] == "tensor"
  params = params_lib.init_params(cfg, jax.random.key(0), mesh)
  assert params["embed"]["embedding"].shape == (83, 64)


@pytest.mark.parametrize("axes,field", [
    (dict(data=3), "device count"),
    (dict(data=-1, fsdp=-1), "-1"),
    (dict(fsdp=3, data=-1), "mesh.data=-1"),
    (dict(model=2), "unknown axis"),
    (dict(tensor=0), "mesh.tensor"),
])
def test_bad_mesh_names_field(axes, field):
  with pytest.raises(ValueError, match=field):
    sharding.make_mesh(axes)


def test_rules_from_config_validates_axes():
  rules = sharding.rules_from_config([["embed", "fsdp"], ["batch", ["data", "fsdp"]]])
  assert rules == (("embed", "fsdp"), ("batch", ("data", "fsdp")))
  with pytest.raises(ValueError, match=r"mesh.rules\[0\]"):
    sharding.rules_from_config([["embed", "model"]])


# Compiles, in a fresh process whose XLA logs warnings, first a "control" lookup without the
# model's layout constraint, then the model's forward + gradient on a mesh splitting every
# axis; a marker written to stderr between them separates their logs.
_REMAT_SCRIPT = textwrap.dedent("""
    import os
    import flax.linen as nn
    import jax, jax.numpy as jnp
    from r1jax import sharding
    from r1jax.models import params as params_lib
    from r1jax.models import presets
    from r1jax.models.transformer import Transformer
    mesh = sharding.make_mesh(dict(data=2, fsdp=2, tensor=2))
    toks = jax.device_put(jnp.zeros((8, 12), jnp.int32), sharding.batch_sharding(mesh))
    table = jax.device_put(jnp.ones((128, 64)), sharding.logical_sharding(
        ("vocab", "embed"), (128, 64), mesh))
    def control(t):
      x = jnp.take(t, toks, axis=0)
      return jnp.sum(nn.with_logical_constraint(x, ("activation_batch", None, None)) ** 2)
    with sharding.activation_sharding(mesh):
      jax.jit(jax.grad(control)).lower(table).compile()
    os.write(2, b"==MODEL==\\n")
    for vocab in (128, 83):  # 83: a vocabulary that 'tensor' cannot split.
      cfg = presets.get("tiny", vocab_size=vocab)
      params = params_lib.init_params(cfg, jax.random.key(0), mesh)
      loss = lambda p: jnp.mean(Transformer(cfg).apply({"params": p}, toks) ** 2)
      with sharding.activation_sharding(mesh):
        jax.jit(jax.value_and_grad(loss)).lower(params).compile()
    print("compiled")
""")


def test_embedding_lookup_needs_no_involuntary_rematerialization():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0", JAX_PLATFORMS="cpu",
             **xla_env.env(8))
  out = subprocess.run([sys.executable, "-c", _REMAT_SCRIPT], capture_output=True, text=True,
                       env=env, timeout=300, check=True)
  assert "compiled" in out.stdout
  control_log, model_log = out.stderr.split("==MODEL==\n")
  warning = "Involuntary full rematerialization"
  assert warning in control_log  # The check sees the warning when it happens...
  assert warning not in model_log, model_log  # ...and the model's lookup does not cause it.
