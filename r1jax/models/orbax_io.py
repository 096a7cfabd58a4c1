"""Model params as an orbax checkpoint plus model_config.json, restored straight into shardings.

  save_orbax("ckpt/", config, params)
  config, params = load_orbax("ckpt/", mesh=mesh)

Layout: <dir>/params (orbax StandardCheckpointer) and <dir>/model_config.json (`config_to_dict`).
This is the model-only format of `python -m r1jax.models.hf convert`; trainer checkpoints
(optimizer state, data positions) are r1jax.train.checkpoint's business.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

import flax.linen as nn
import jax
import orbax.checkpoint as ocp

from r1jax import sharding
from r1jax.models.transformer import ModelConfig, RopeScaling
from r1jax.models import params as params_lib

CONFIG_FILE = "model_config.json"
PARAMS_DIR = "params"


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
  return dataclasses.asdict(config)


def config_from_dict(d: dict[str, Any], where: str = "model config") -> ModelConfig:
  """Inverse of `config_to_dict`; unknown fields raise, naming the field."""
  names = {f.name for f in dataclasses.fields(ModelConfig)}
  unknown = sorted(set(d) - names)
  if unknown:
    raise ValueError(f"{where}: unknown ModelConfig field(s) {unknown}")
  d = dict(d)
  if d.get("rope_scaling") is not None:
    try:
      d["rope_scaling"] = RopeScaling(**d["rope_scaling"])
    except TypeError as e:
      raise ValueError(f"{where}: bad rope_scaling {d['rope_scaling']!r}: {e}") from e
  try:
    return ModelConfig(**d)
  except TypeError as e:  # A missing required field.
    raise ValueError(f"{where}: {e}") from e


def save_orbax(directory, config: ModelConfig, params) -> None:
  """Writes params (sharded arrays are written shard by shard) and the config beside them."""
  directory = pathlib.Path(directory).absolute()  # orbax requires absolute paths.
  directory.mkdir(parents=True, exist_ok=True)
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(directory / PARAMS_DIR, params)
  checkpointer.wait_until_finished()
  if jax.process_index() == 0:  # One writer: other processes may finish their shards later.
    (directory / CONFIG_FILE).write_text(json.dumps(config_to_dict(config), indent=2) + "\n")


def load_orbax(directory, mesh=None, rules=None) -> tuple[ModelConfig, dict]:
  """(config, params), each array restored directly into its sharding (one device if no mesh)."""
  directory = pathlib.Path(directory).absolute()
  config_file = directory / CONFIG_FILE
  if not config_file.is_file():
    raise ValueError(f"{config_file}: not found (not a save_orbax directory)")
  config = config_from_dict(json.loads(config_file.read_text()), str(config_file))
  shapes = nn.meta.unbox(params_lib.abstract_params(config))
  if mesh is None:
    one_device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    shardings = jax.tree.map(lambda _: one_device, shapes)
  else:
    shardings = params_lib.param_shardings(config, mesh, sharding.rules_from_config(rules))
  target = jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                        shapes, shardings)
  params = ocp.StandardCheckpointer().restore(directory / PARAMS_DIR, target)
  return config, params
