"""From a config to the objects a run needs, with every check done before any compute.

Shared by the RL trainer, the SFT command and the evaluation command so that each config
field means the same thing everywhere and a bad value fails with the field named.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax

from r1jax import distributed, sharding
from r1jax.models import presets
from r1jax.sampling.sampler import SamplerConfig
# The checks live in validation.py; importable from here as before.
from r1jax.train.validation import (  # pylint: disable=unused-import
    DENSE_REWARDS, ConfigError, reward_specs, validate_common, validate_config)
from r1jax.train.validation import _fail
from r1jax.models import params as params_lib


def _has_tokenizer(folder) -> bool:
  """Whether a Hugging Face folder ships its own tokenizer (a weights-only folder, like the
  tests' parity fixtures, may be driven by an explicit toy tokenizer)."""
  import pathlib  # pylint: disable=g-import-not-at-top
  d = pathlib.Path(folder)
  return any((d / f).exists() for f in ("tokenizer.json", "tokenizer.model",
                                         "tokenizer_config.json"))


def tokenizer_spec(config) -> str:
  """config.tokenizer, or when '' the model's own: model.hf_checkpoint's folder, else the hf/
  folder kept inside model.init_checkpoint (`hf convert`), else 'char:math' (toy models)."""
  if config.tokenizer:
    if (config.model.hf_checkpoint and str(config.tokenizer).startswith("char:")
        and _has_tokenizer(config.model.hf_checkpoint)):
      _fail("tokenizer", f"{config.tokenizer!r} cannot drive the Hugging Face model "
            f"{config.model.hf_checkpoint}; leave it '' to use the folder's tokenizer")
    return config.tokenizer
  if config.model.hf_checkpoint:
    return config.model.hf_checkpoint
  if config.model.init_checkpoint:
    import pathlib  # pylint: disable=g-import-not-at-top
    from r1jax.models import locate  # pylint: disable=g-import-not-at-top
    try:
      keep = locate.resolve(config.model.init_checkpoint).config_file.parent / "hf"
    except ValueError:
      keep = pathlib.Path(config.model.init_checkpoint) / "hf"
    if (keep / "tokenizer.json").is_file() or (keep / "tokenizer.model").is_file():
      return str(keep)
  return "char:math"


def load_tokenizer(config):
  from r1jax import file_tokenizers  # pylint: disable=g-import-not-at-top
  return file_tokenizers.load_tokenizer(tokenizer_spec(config))


def build_mesh(config):
  axes = {"data": config.mesh.data, "fsdp": config.mesh.fsdp, "tensor": config.mesh.tensor}
  return sharding.make_mesh(axes)


def build_rules(config):
  return sharding.rules_from_config(list(config.mesh.rules) or None)


def validate_batching(config, mesh) -> None:
  """Every row-sharded batch must split evenly over the data axes of the mesh."""
  rows = mesh.shape["data"] * mesh.shape["fsdp"]
  N = config.prompts_per_step * config.sampler.group_size
  checks = {"prompts_per_step": config.prompts_per_step,
            "rl.grad_accum (rollouts per microbatch)":
                N // config.rl.num_minibatches // config.rl.grad_accum,
            "eval.batch_size": config.eval.batch_size}
  if config.warm_start.sft_steps:
    checks["warm_start.batch_size"] = config.warm_start.batch_size
  checks["prompts_per_step * sampler.group_size (rollouts)"] = N
  for field, n in checks.items():
    if n % rows:
      _fail(field, f"{n} rows cannot be split over mesh data*fsdp = {rows} devices")
    # Batches built from per-process rows: each process must own a block of them (eval and
    # minibatch rows never cross the host boundary).
    if field in ("prompts_per_step", "warm_start.batch_size") or field.endswith("(rollouts)"):
      try:
        distributed.check_row_layout(mesh, sharding.BATCH_AXES, n)
      except ValueError as e:
        _fail(field, str(e))


def build_model(config, tokenizer, mesh, rules):
  """(ModelConfig, init_params_fn(rng) -> params) from a preset, an HF folder or orbax."""
  overrides = dict(config.model.overrides)
  overrides.setdefault("attention_impl", config.model.get("attention_impl", "auto"))
  if config.model.hf_checkpoint:
    from r1jax.models import hf  # pylint: disable=g-import-not-at-top
    model_config, params = hf.load_checkpoint(config.model.hf_checkpoint, mesh=mesh,
                                              rules=rules)
    model_config = dataclasses.replace(model_config, **overrides)
    return model_config, lambda rng: params
  if config.model.init_checkpoint:
    # A model folder, a run workdir (its model/) or a checkpoint step: models/locate.py.
    from r1jax.models import locate  # pylint: disable=g-import-not-at-top
    try:
      model_config, params = locate.load(config.model.init_checkpoint, mesh=mesh, rules=rules)
    except ValueError as e:
      _fail("model.init_checkpoint", str(e))
    model_config = dataclasses.replace(model_config, **overrides)
    return model_config, lambda rng: params
  if "vocab_size" not in overrides:
    m = config.model.vocab_multiple
    overrides["vocab_size"] = int(math.ceil(tokenizer.vocab_size / m) * m)
  try:
    model_config = presets.get(config.model.preset, **overrides)
  except ValueError as e:
    _fail("model.overrides", str(e))
  if model_config.vocab_size < tokenizer.vocab_size:
    _fail("model.overrides.vocab_size", f"{model_config.vocab_size} is smaller than the "
          f"tokenizer's {tokenizer.vocab_size} ids")
  return model_config, lambda rng: params_lib.init_params(model_config, rng, mesh, rules)


class Data(NamedTuple):
  rl: Any  # RLPromptPipeline
  sft: Any  # SFTPipeline or None
  eval_examples: list


def build_data(config, tokenizer, process_index: int | None = None,
               process_count: int | None = None) -> Data:
  from r1jax.data import pipeline, sources  # pylint: disable=g-import-not-at-top
  pi = jax.process_index() if process_index is None else process_index
  pc = jax.process_count() if process_count is None else process_count
  d = config.data
  knobs = dict(d.knobs)
  get = lambda split: sources.get_source(d.source, d.data_dir or None, split, d.template,
                                         fields=dict(d.fields), **knobs)
  rl = pipeline.RLPromptPipeline(get(d.train_split), config.prompts_per_step, tokenizer,
                                 d.max_prompt_len, config.seed, process_index=pi,
                                 process_count=pc)
  sft = None
  if config.warm_start.sft_steps:
    sft = pipeline.SFTPipeline(get(d.train_split), config.warm_start.batch_size, tokenizer,
                               config.warm_start.max_len, config.seed + 1, process_index=pi,
                               process_count=pc)
  eval_source = sources.get_source(d.eval_source or d.source, d.data_dir or None, d.eval_split,
                                   d.template, fields=dict(d.fields),
                                   **(knobs if not d.eval_source else {}))
  eval_examples = pipeline.first_examples(eval_source, config.eval.num_problems)
  return Data(rl, sft, eval_examples)


class StopTokens(NamedTuple):
  ids: tuple[int, ...]  # Stop strings that are one token (exact).
  sequences: tuple[tuple[int, ...], ...]  # Multi-token stop strings, as the tokenizer spells them.
  strings: tuple[str, ...] = ()  # Every stop string as text: cut on the host (stop_text.py).


def stop_tokens(config, tokenizer) -> StopTokens:
  """config.sampler.stop_strings as token ids, or as id sequences where one token won't do.

  A multi-token stop string is matched on device in its common spellings (standalone, and
  after a space, '.', '}', ...: `sampling.spellings`), so most rows stop early; in any other
  context a BPE tokenizer spells it differently, so every caller also cuts completions at the
  strings on decoded text (`sampling.stop_text.cut_output`).
  """
  from r1jax.sampling import spellings  # pylint: disable=g-import-not-at-top
  ids, seqs = [], []
  for s in config.sampler.stop_strings:
    i = tokenizer.token_to_id(s)
    enc = [i] if i is not None else tokenizer.encode(s)
    if not enc:
      _fail("sampler.stop_strings", f"{s!r} encodes to no tokens")
    if len(enc) == 1:
      ids.append(int(enc[0]))
    else:
      seqs.extend(q for q in spellings.spellings(tokenizer, s) if q not in seqs)
  return StopTokens(tuple(ids), tuple(seqs), tuple(str(s) for s in config.sampler.stop_strings))


def sampler_config(config, tokenizer, stop: StopTokens, model_config) -> SamplerConfig:
  s = config.sampler
  # Padded model vocabularies (Qwen: 151936 rows, fewer tokenizer ids) must not be sampled.
  limit = tokenizer.vocab_size if tokenizer.vocab_size < model_config.vocab_size else 0
  think = {}
  if s.get("think_end", ""):
    ids = tokenizer.token_to_id(s.think_end)
    ids = [ids] if ids is not None else tokenizer.encode(s.think_end)
    if not ids:
      _fail("sampler.think_end", f"{s.think_end!r} encodes to no tokens")
    if len(ids) == 1:
      think = dict(think_end_id=int(ids[0]))
    else:  # A multi-token delimiter: every spelling of it in context ends thinking.
      from r1jax.sampling import spellings  # pylint: disable=g-import-not-at-top
      think = dict(think_end_seqs=tuple(spellings.spellings(tokenizer, s.think_end)))
    think.update(min_think_tokens=s.min_think_tokens,
                 max_think_tokens=s.max_think_tokens,
                 wait_ids=tuple(tokenizer.encode(s.wait)) if s.min_think_tokens else (),
                 max_waits=s.max_waits if s.min_think_tokens else 0,
                 answer_prefix_ids=tuple(tokenizer.encode(s.answer_prefix)))
  return SamplerConfig(max_new_tokens=s.max_new_tokens, eos_id=tokenizer.eos_id,
                       pad_id=tokenizer.pad_id, temperature=s.temperature, top_p=s.top_p,
                       top_k=s.top_k, min_p=s.get("min_p", 0.0), stop_token_ids=stop.ids,
                       stop_sequences=stop.sequences, stop_strings=stop.strings,
                       n=s.group_size, vocab_limit=limit, **think)
