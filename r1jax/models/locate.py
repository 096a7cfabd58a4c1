"""Where a model's weights are: one resolver for every command that takes a model path.

Accepted paths (`resolve` says which it got; `load` returns (ModelConfig, params)):
  * a model directory: model_config.json + params/ (`orbax_io.save_orbax`: sft_main's and
    grpo_main's <workdir>/model and <workdir>/model_best, `python -m r1jax.models.hf convert`);
  * a run's workdir holding such a `model/` (grpo_main, sft_main, ei_main), or, before a model
    was written, the workdir's latest training checkpoint;
  * one training-checkpoint step, <workdir>/checkpoints/<step>: the policy params are read from
    the step's `state` item and the model config from <workdir>/model_config.json, which
    grpo_main writes when it starts.
"""
from __future__ import annotations

import json
import pathlib
from typing import NamedTuple

import flax.linen as nn
import jax
import numpy as np

from r1jax import sharding
from r1jax.models import orbax_io
from r1jax.models import params as params_lib

RUN_MODEL_CONFIG = "model_config.json"  # <workdir>/model_config.json: the run's ModelConfig.
MODEL_DIR = "model"


class Located(NamedTuple):
  kind: str  # 'model' (a save_orbax directory) or 'checkpoint' (a training-checkpoint step).
  path: pathlib.Path  # The model directory or the step directory.
  config_file: pathlib.Path  # The model_config.json that describes the params.


def _is_model_dir(p: pathlib.Path) -> bool:
  return (p / orbax_io.CONFIG_FILE).is_file() and (p / orbax_io.PARAMS_DIR).is_dir()


def _steps(checkpoints: pathlib.Path) -> list[int]:
  # Finalised orbax steps are plain integer folders; unfinished ones carry a tmp suffix.
  if not checkpoints.is_dir():
    return []
  return sorted(int(d.name) for d in checkpoints.iterdir() if d.is_dir() and d.name.isdigit())


def resolve(path) -> Located:
  """Which kind of model path `path` is; ValueError naming the path and what was looked for."""
  p = pathlib.Path(path).absolute()
  if not p.is_dir():
    raise ValueError(f"{path}: not a directory (expected a model directory, a run workdir or a "
                     f"checkpoint step <workdir>/checkpoints/<step>)")
  if _is_model_dir(p):
    return Located("model", p, p / orbax_io.CONFIG_FILE)
  if _is_model_dir(p / MODEL_DIR):
    return Located("model", p / MODEL_DIR, p / MODEL_DIR / orbax_io.CONFIG_FILE)
  if p.name.isdigit() and p.parent.name == "checkpoints" and (p / "state").is_dir():
    return Located("checkpoint", p, p.parent.parent / RUN_MODEL_CONFIG)
  steps = _steps(p / "checkpoints")
  if steps:
    step_dir = p / "checkpoints" / str(steps[-1])
    return Located("checkpoint", step_dir, p / RUN_MODEL_CONFIG)
  raise ValueError(
      f"{path}: not a model directory ({orbax_io.CONFIG_FILE} + {orbax_io.PARAMS_DIR}/), a "
      f"run workdir with {MODEL_DIR}/ or checkpoints/, or a checkpoint step directory")


def _checkpoint_params(step_dir: pathlib.Path) -> dict:
  """The policy params of a training-checkpoint step, as host arrays."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  tree = ocp.StandardCheckpointer().restore(step_dir / "state")
  # RL steps save {'state': TrainState, 'ref_params': ...}; SFT steps save the TrainState.
  state = tree["state"] if isinstance(tree, dict) and "state" in tree else tree
  if not isinstance(state, dict) or "params" not in state:
    raise ValueError(f"{step_dir}: the checkpoint holds no policy params")
  return state["params"]


def load(path, mesh=None, rules=None) -> tuple[orbax_io.ModelConfig, dict]:
  """(ModelConfig, params) from any path `resolve` accepts, laid out over `mesh` (or one
  device); `rules` as in `sharding.rules_from_config`."""
  loc = resolve(path)
  if loc.kind == "model":
    return orbax_io.load_orbax(loc.path, mesh=mesh, rules=rules)
  if not loc.config_file.is_file():
    raise ValueError(f"{loc.path}: a training checkpoint, but {loc.config_file} is missing "
                     f"(written by grpo_main when a run starts); export the run's "
                     f"{MODEL_DIR}/ folder instead")
  config = orbax_io.config_from_dict(json.loads(loc.config_file.read_text()),
                                     str(loc.config_file))
  params = _checkpoint_params(loc.path)
  abstract = nn.meta.unbox(params_lib.abstract_params(config))
  want = jax.tree_util.tree_structure(abstract)
  if jax.tree_util.tree_structure(params) != want:
    raise ValueError(f"{loc.path}: checkpoint params do not match {loc.config_file}")
  for (kp, a), b in zip(jax.tree_util.tree_leaves_with_path(abstract), jax.tree.leaves(params)):
    if tuple(a.shape) != tuple(np.shape(b)):
      raise ValueError(f"{loc.path}: param {jax.tree_util.keystr(kp)} has shape "
                       f"{np.shape(b)}, {loc.config_file} implies {a.shape}")
  if mesh is None:
    device = jax.devices()[0]
    return config, jax.tree.map(lambda x, a: jax.device_put(np.asarray(x, a.dtype), device),
                                params, abstract)
  shardings = params_lib.param_shardings(config, mesh, sharding.rules_from_config(rules))
  return config, jax.tree.map(lambda x, a, s: jax.device_put(np.asarray(x, a.dtype), s),
                              params, abstract, shardings)
