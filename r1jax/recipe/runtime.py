"""From a config to what every recipe command needs: tokenizer, mesh, model params, prompts.

The config is `r1jax.train.defaults.base_config()` plus the recipe sections (sft, rs, ei,
test_time) that experiments/configs/*_arith_tiny.py document; field meanings are shared with
the RL trainer through r1jax.train.setup.
"""
from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, NamedTuple

import jax

from r1jax.data import pipeline, sources
from r1jax.models.transformer import ModelConfig
from r1jax.train import setup as setup_lib


class Runtime(NamedTuple):
  tokenizer: Any
  mesh: Any
  rules: Any
  model_config: ModelConfig
  params: Any
  checkpoint: dict  # Identity of the weights: {'kind': 'orbax'|'hf'|'preset', 'path'|'name'}.


def checkpoint_identity(config) -> dict:
  if config.model.hf_checkpoint:
    return {"kind": "hf", "path": str(pathlib.Path(config.model.hf_checkpoint).absolute())}
  if config.model.init_checkpoint:
    return {"kind": "orbax", "path": str(pathlib.Path(config.model.init_checkpoint).absolute())}
  return {"kind": "preset", "name": config.model.preset, "seed": config.seed}


def load(config, require_checkpoint: bool = True) -> Runtime:
  """Tokenizer, mesh and params; `require_checkpoint` refuses a randomly initialised preset."""
  if require_checkpoint and not (config.model.init_checkpoint or config.model.hf_checkpoint):
    raise setup_lib.ConfigError(
        "config.model.init_checkpoint: a trained model is needed (an r1jax orbax directory, "
        "e.g. the 'model' folder written by experiments/sft_main.py), or set "
        "config.model.hf_checkpoint to a Hugging Face folder")
  for field, path in (("init_checkpoint", config.model.init_checkpoint),
                      ("hf_checkpoint", config.model.hf_checkpoint)):
    if path and not pathlib.Path(path).is_dir():
      raise setup_lib.ConfigError(f"config.model.{field}: {path} is not a directory")
  tok = setup_lib.load_tokenizer(config)
  mesh = setup_lib.build_mesh(config)
  rules = setup_lib.build_rules(config)
  model_config, init_fn = setup_lib.build_model(config, tok, mesh, rules)
  params = init_fn(jax.random.key(config.seed))
  return Runtime(tok, mesh, rules, model_config, params, checkpoint_identity(config))


def batch_rows(mesh) -> int:
  """Rows a batch must be a multiple of: the data-parallel size of the mesh."""
  return 1 if mesh is None else mesh.shape["data"] * mesh.shape["fsdp"]


def check_batch(field: str, value: int, mesh) -> None:
  rows = batch_rows(mesh)
  if not isinstance(value, int) or value < 1 or value % rows:
    raise setup_lib.ConfigError(f"config.{field}: must be a positive multiple of the mesh's "
                                f"data*fsdp = {rows} devices, got {value!r}")


def source(config, split: str):
  d = config.data
  return sources.get_source(d.source, d.data_dir or None, split, d.template,
                            fields=dict(d.fields), **dict(d.knobs))


def examples(config, split: str, n: int) -> list[dict]:
  """The first n examples of the config's source split (n <= 0: all of a finite source)."""
  return pipeline.first_examples(source(config, split), n if n > 0 else None)


def eval_examples(config, n: int) -> list[dict]:
  """The first n held-out examples: data.eval_source (without knobs) if set, else data.source,
  on data.eval_split; as the RL trainer's evaluation reads them."""
  d = config.data
  if not d.eval_source:
    return examples(config, d.eval_split, n)
  src = sources.get_source(d.eval_source, d.data_dir or None, d.eval_split, d.template,
                           fields=dict(d.fields))
  return pipeline.first_examples(src, n if n > 0 else None)


def eval_task_name(config) -> str:
  return f"{config.data.eval_source or config.data.source}/{config.data.eval_split}"


def sampler_config(config, tokenizer, model_config, **overrides):
  """The config's sampler settings (group_size samples per prompt) with `overrides`."""
  cfg = setup_lib.sampler_config(config, tokenizer, setup_lib.stop_tokens(config, tokenizer),
                                 model_config)
  return dataclasses.replace(cfg, **overrides)


def single_token(tokenizer, text: str, field: str) -> int:
  """The id of `text`, which must be one token (R1 tags are special tokens)."""
  i = tokenizer.token_to_id(text)
  if i is None:
    enc = tokenizer.encode(text)
    if len(enc) != 1:
      raise setup_lib.ConfigError(f"config.{field}: {text!r} is not a single token of this "
                                  f"tokenizer (encodes to {enc})")
    i = enc[0]
  return int(i)
