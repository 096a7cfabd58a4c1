"""TrainState, the optimizer from its config section, and sharded creation (eval_shape -> jit init).

The state is a plain pytree so one `jax.jit(..., donate_argnums=0)` can update it in place and
orbax can save/restore it directly into its shardings.
"""
from __future__ import annotations

from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


@flax.struct.dataclass
class TrainState:
  """step: int32 scalar. rng: raw uint32 key data (checkpointable). params/opt_state: pytrees."""
  step: jax.Array
  params: Any
  opt_state: Any
  rng: jax.Array
  # Optional critic (PPO with a separate value model); None otherwise.
  value_params: Any = None
  value_opt_state: Any = None


SCHEDULES = ("constant", "cosine", "linear")


def make_schedule(lr: float, schedule: str, warmup_steps: int, total_steps: int,
                  end_factor: float = 0.1) -> optax.Schedule:
  """'constant' | 'cosine' | 'linear', each with linear warmup."""
  if schedule not in SCHEDULES:
    raise ValueError(f"optim.schedule: unknown schedule {schedule!r}; "
                     "choose constant, cosine or linear")
  warmup = optax.linear_schedule(0.0, lr, max(warmup_steps, 1))
  rest = max(total_steps - warmup_steps, 1)
  if schedule == "constant":
    main = optax.constant_schedule(lr)
  elif schedule == "cosine":
    main = optax.cosine_decay_schedule(lr, rest, alpha=end_factor)
  else:
    main = optax.linear_schedule(lr, lr * end_factor, rest)
  if warmup_steps <= 0:
    return main
  return optax.join_schedules([warmup, main], [warmup_steps])


OPTIMIZERS = ("adamw", "sgd")
# What a config section may set, and what a field it lacks means. config.optim sets them all;
# warm_start, sft and PPO's value model set fewer (r1jax/train/defaults.py documents each).
OPTIM_FIELDS = dict(name="adamw", lr=None, schedule="constant", warmup_steps=0,
                    weight_decay=0.0, grad_clip=1.0, b1=0.9, b2=0.999, eps=1e-8)


def optimizer_from_config(section, total_steps: int) -> optax.GradientTransformation:
  """The one place an optimizer is built from config.

  `section`: a config section or mapping (config.optim, config.warm_start, config.sft, an
  SFTConfig, {'lr': config.rl.value_lr}) read for OPTIM_FIELDS; `total_steps`: optimizer
  steps, the length of the decay schedules. AdamW (or SGD with momentum b1) after global-norm
  clipping; grad_clip <= 0 disables it.

  SGD is offered for small models trained by RL on few rollouts: Adam's per-parameter
  normalisation turns noise-dominated gradient entries into full-size steps, while SGD's
  update stays an unbiased estimate of the policy gradient.
  """
  def get(name):
    if isinstance(section, dict):
      return section.get(name, OPTIM_FIELDS[name])
    return getattr(section, name, OPTIM_FIELDS[name])
  o = {name: get(name) for name in OPTIM_FIELDS}
  if o["lr"] is None:
    raise ValueError("optimizer section has no lr")
  if o["name"] not in OPTIMIZERS:
    raise ValueError(f"optim.name: unknown optimizer {o['name']!r}; choose one of {OPTIMIZERS}")
  sched = make_schedule(o["lr"], o["schedule"], o["warmup_steps"], total_steps)
  parts = []
  if o["grad_clip"] > 0:
    parts.append(optax.clip_by_global_norm(o["grad_clip"]))
  if o["name"] == "adamw":
    parts.append(optax.adamw(sched, b1=o["b1"], b2=o["b2"], eps=o["eps"],
                             weight_decay=o["weight_decay"]))
  else:
    if o["weight_decay"]:
      parts.append(optax.add_decayed_weights(o["weight_decay"]))
    parts.append(optax.sgd(sched, momentum=o["b1"] or None))
  return optax.chain(*parts)


def create_state(init_params_fn: Callable[[jax.Array], Any], optimizer, seed: int,
                 mesh: Mesh | None = None, param_shardings=None,
                 init_value_fn: Callable[[jax.Array, Any], Any] | None = None,
                 value_optimizer=None) -> tuple[TrainState, Any]:
  """Builds the state already sharded: shapes via eval_shape, then one jit with out_shardings.

  Returns (state, state_shardings). `init_params_fn(rng) -> params` runs first, on its own: a
  sharded init (models.params.init_params) or params that already exist (loaded weights, a warm
  start). They then enter the optimizer-state jit as an argument, never as a constant captured
  by the trace, which a multi-host array cannot be, and the state holds them without a copy.
  Optimizer state takes the params' shardings (optax states mirror the params tree; scalars
  are replicated). `init_value_fn(rng, params)` builds PPO's value parameters (a separate
  critic's trunk starts from the policy's params and is sharded like them).
  """
  k_model, k_value, k_state = jax.random.split(jax.random.key(seed), 3)
  params = init_params_fn(k_model)
  if mesh is not None:
    params = jax.device_put(params, param_shardings)  # A no-op when already laid out so.

  def init_rest(params, k_value, k_state):
    value_params = init_value_fn(k_value, params) if init_value_fn else None
    return TrainState(step=jnp.zeros((), jnp.int32), params=None,
                      opt_state=optimizer.init(params),
                      rng=jax.random.key_data(k_state),
                      value_params=value_params,
                      value_opt_state=(value_optimizer.init(value_params)
                                       if init_value_fn else None))

  if mesh is None:
    return jax.jit(init_rest)(params, k_value, k_state).replace(params=params), None
  abstract = jax.eval_shape(init_rest, params, k_value, k_state).replace(
      params=jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), params))
  shardings = state_shardings(abstract, mesh, param_shardings)
  rest = jax.jit(init_rest, out_shardings=shardings.replace(params=None))(
      params, k_value, k_state)
  return rest.replace(params=params), shardings


def state_shardings(abstract_state: TrainState, mesh: Mesh, param_shardings):
  """Shardings for every leaf: params by the model rules, optimizer moments likewise."""
  rep = NamedSharding(mesh, P())

  def like_params(tree):
    # optax states embed copies of the params tree (mu, nu); match them by structure.
    param_struct = jax.tree.structure(param_shardings)

    def visit(node):
      if jax.tree.structure(node) == param_struct:
        return param_shardings
      return None
    return jax.tree.map(
        lambda n: visit(n) if visit(n) is not None else jax.tree.map(lambda _: rep, n),
        tree, is_leaf=lambda n: jax.tree.structure(n) == param_struct)

  return TrainState(
      step=rep, params=param_shardings, opt_state=like_params(abstract_state.opt_state),
      rng=rep,
      value_params=(None if abstract_state.value_params is None
                    else like_params(abstract_state.value_params)),
      value_opt_state=(None if abstract_state.value_opt_state is None
                       else like_params(abstract_state.value_opt_state)))
