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
from r1jax.rewards import custom as custom_rewards
from r1jax.rewards import registry as rewards_registry
from r1jax.rl.algorithms import get_algorithm
from r1jax.sampling.sampler import SamplerConfig
from r1jax.train import exit_status
from r1jax.models import params as params_lib


class ConfigError(exit_status.FatalError, ValueError):
  """A config value is invalid; the message names the field. The mains print it as one line
  and exit 1 (exit_status.guard)."""


def _fail(field: str, msg: str):
  raise ConfigError(f"config.{field}: {msg}")


def _positive(config, field: str, kind=int, allow_zero: bool = False) -> None:
  v = _get(config, field)
  ok = (isinstance(v, (int, float)) and not isinstance(v, bool) and
        (kind is float or isinstance(v, int)) and math.isfinite(v) and
        (v >= 0 if allow_zero else v > 0))
  if not ok:
    what = "an int" if kind is int else "a number"
    _fail(field, f"must be {what} {'>= 0' if allow_zero else '> 0'}, got {v!r}")


def _validate_optimizer(config, section: str) -> None:
  from r1jax.train import state  # pylint: disable=g-import-not-at-top
  s = _get(config, section)
  _positive(config, f"{section}.lr", float)
  for name in ("warmup_steps",):
    if name in s:
      _positive(config, f"{section}.{name}", int, allow_zero=True)
  for name in ("weight_decay", "grad_clip"):
    if name in s:
      _positive(config, f"{section}.{name}", float, allow_zero=True)
  if s.get("name", "adamw") not in state.OPTIMIZERS:
    _fail(f"{section}.name", f"unknown optimizer {s.name!r}; choose one of {state.OPTIMIZERS}")
  if s.get("schedule", "constant") not in state.SCHEDULES:
    _fail(f"{section}.schedule", f"unknown schedule {s.schedule!r}; choose one of "
          f"{state.SCHEDULES}")


def _validate_data(config) -> None:
  """The data directory and the sources that read it, before anything is written."""
  import pathlib  # pylint: disable=g-import-not-at-top
  from r1jax.data import sources  # pylint: disable=g-import-not-at-top
  d = config.data
  if d.data_dir and not pathlib.Path(d.data_dir).is_dir():
    _fail("data.data_dir", f"{d.data_dir} is not a directory")
  names = [d.source, d.get("eval_source", "")]
  if d.source == "mixture":
    names += [c[0] for c in d.knobs.get("components", ())]
  for field, name in zip(("data.source", "data.eval_source") + ("data.knobs.components",) * 99,
                         names):
    if name in sources.BENCHMARK_FILES and not d.data_dir:
      _fail("data.data_dir", f"not set, and {field} {name!r} reads "
            f"{sorted(set(sources.BENCHMARK_FILES[name].values()))} from it")


def validate_common(config) -> None:
  """Checks every main shares (RL, SFT, rejection sampling, EI, eval): learning rates,
  intervals, the evaluation section, the data directory. No devices, no data read."""
  for section in ("optim", "warm_start", "sft"):
    if section in config and (section != "warm_start" or config.warm_start.sft_steps):
      _validate_optimizer(config, section)
  for field in ("log_every", "eval.every", "checkpoint.every", "checkpoint.keep"):
    if field.split(".")[0] in config:
      _positive(config, field, int)
  _positive(config, "eval.num_problems", int, allow_zero=True)
  _positive(config, "eval.k", int, allow_zero=True)
  _positive(config, "eval.temperature", float, allow_zero=True)
  _positive(config, "seed", int, allow_zero=True)
  _validate_data(config)


def validate_config(config) -> None:
  """Static checks (no devices, no data): names, ranges, algorithm constraints."""
  validate_common(config)
  try:
    algo = get_algorithm(config.rl.algorithm)
  except ValueError as e:
    _fail("rl.algorithm", str(e))
  if not config.model.hf_checkpoint and not config.model.init_checkpoint:
    if config.model.preset not in presets.PRESETS:
      _fail("model.preset", f"unknown preset {config.model.preset!r}; known: "
            f"{sorted(presets.PRESETS)}")
  weights = _reward_weights(config)
  for name, weight in weights.items():
    field = f"rewards.custom[{name!r}]" if custom_rewards.is_path(name) else f"rewards.{name}"
    if custom_rewards.is_path(name):
      try:
        custom_rewards.resolve(name)
      except ValueError as e:
        _fail(field, str(e))
    elif name not in rewards_registry.REWARDS:
      _fail(field, f"unknown reward {name!r}; known: {sorted(rewards_registry.REWARDS)} "
            f"(a function of your own goes in rewards.custom as 'pkg.module:function')")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
      _fail(field, f"weight must be a number, got {weight!r}")
  if not any(w for w in weights.values()):
    _fail("rewards", "at least one reward needs a non-zero weight")
  try:
    rewards_registry.validate(reward_specs(config))
  except ValueError as e:
    _fail("rewards", str(e))
  try:
    rewards_registry.get_reward(config.eval.accuracy_reward)
  except ValueError as e:
    _fail("eval.accuracy_reward", str(e))
  G = config.sampler.group_size
  if G < algo.min_group_size:
    _fail("sampler.group_size", f"{config.rl.algorithm} needs groups of at least "
          f"{algo.min_group_size} completions per prompt (a group baseline of one sample is "
          f"the sample itself), got {G}")
  for field in ("total_steps", "prompts_per_step", "sampler.max_new_tokens",
                "rl.num_iterations", "rl.num_minibatches", "rl.grad_accum", "rl.score_chunks",
                "data.max_prompt_len", "eval.batch_size"):
    v = _get(config, field)
    if not isinstance(v, int) or v < 1:
      _fail(field, f"must be a positive int, got {v!r}")
  N = config.prompts_per_step * G
  mb = config.rl.num_minibatches
  if N % mb:
    _fail("rl.num_minibatches", f"{mb} does not divide the {N} rollouts per step "
          f"(prompts_per_step * group_size)")
  if N % config.rl.score_chunks:
    _fail("rl.score_chunks", f"{config.rl.score_chunks} does not divide the {N} rollouts")
  if (N // mb) % config.rl.grad_accum:
    _fail("rl.grad_accum", f"{config.rl.grad_accum} does not divide the minibatch of "
          f"{N // mb} rollouts")
  if config.rl.kl_coef < 0:
    _fail("rl.kl_coef", f"must be >= 0, got {config.rl.kl_coef}")
  from r1jax.models.attention import ATTENTION_IMPLS  # pylint: disable=g-import-not-at-top
  if config.model.get("attention_impl", "auto") not in ATTENTION_IMPLS:
    _fail("model.attention_impl", f"must be one of {ATTENTION_IMPLS}, got "
          f"{config.model.attention_impl!r}")
  if "distributed" in config:
    try:
      distributed.Settings.from_config(config.distributed).validate()
    except ValueError as e:
      _fail("distributed", str(e))
  _validate_rl(config, algo)
  adv = config.rl.advantage
  if adv:
    from r1jax.rl.advantages import ADVANTAGES  # pylint: disable=g-import-not-at-top
    if adv not in ADVANTAGES:
      _fail("rl.advantage", f"unknown estimator {adv!r}; known: {sorted(ADVANTAGES)}")
    if adv == "gae" and not algo.critic:
      _fail("rl.advantage", "'gae' needs a value head: use rl.algorithm='ppo'")


def _validate_rl(config, algo) -> None:
  """The RL-core fields: KL placement and estimator, critic, DAPO sampling, rollouts."""
  rl, s = config.rl, config.sampler
  if rl.kl_placement not in ("", "loss", "reward"):
    _fail("rl.kl_placement", f"must be 'loss', 'reward' or '' (the algorithm's), got "
          f"{rl.kl_placement!r}")
  if rl.kl_estimator not in ("", "k1", "k2", "k3"):
    _fail("rl.kl_estimator", f"must be k1, k2, k3 or '' (k1 in the reward, k3 in the loss), "
          f"got {rl.kl_estimator!r}")
  in_reward = algo.kl_in_reward if not rl.kl_placement else rl.kl_placement == "reward"
  if rl.kl_coef > 0 and not in_reward and rl.kl_estimator == "k1":
    _fail("rl.kl_estimator", "'k1' cannot be a loss term (its expected gradient is zero): "
          "use k2/k3, or rl.kl_placement='reward'")
  if algo.critic:
    _positive(config, "rl.value_lr", float)
  if rl.critic not in ("shared", "separate"):
    _fail("rl.critic", f"must be 'shared' or 'separate', got {rl.critic!r}")
  for field in ("rl.critic_warmup_steps",):
    v = _get(config, field)
    if not isinstance(v, int) or v < 0:
      _fail(field, f"must be an int >= 0, got {v!r}")
  if rl.critic_warmup_steps and not algo.critic:
    _fail("rl.critic_warmup_steps", f"{config.rl.algorithm} has no critic (use ppo)")
  for field in ("rl.dynamic_oversample", "rl.dynamic_max_rounds"):
    v = _get(config, field)
    if not isinstance(v, int) or v < 1:
      _fail(field, f"must be a positive int, got {v!r}")
  if not s.temperature > 0:
    _fail("sampler.temperature", f"RL rollouts must be sampled (> 0), got {s.temperature!r}")
  truncated = {"sampler.top_k": s.top_k > 0, "sampler.top_p": s.top_p < 1.0,
               "sampler.min_p": s.get("min_p", 0.0) > 0}
  for field, on in truncated.items():
    if on and not rl.allow_truncated_sampling:
      _fail(field, f"{_get(config, field)!r} truncates the sampling distribution, which the "
            "loss's ratio does not see (biased updates); set rl.allow_truncated_sampling=True "
            "to accept that")
  for field in ("sampler.min_think_tokens", "sampler.max_think_tokens", "sampler.max_waits"):
    v = _get(config, field)
    if not isinstance(v, int) or v < 0:
      _fail(field, f"must be an int >= 0, got {v!r}")
  if (s.min_think_tokens or s.max_think_tokens) and not s.think_end:
    _fail("sampler.think_end", "must name the end-of-thinking token for budget forcing")
  if s.max_think_tokens and s.min_think_tokens > s.max_think_tokens:
    _fail("sampler.min_think_tokens", f"must be <= max_think_tokens ({s.max_think_tokens})")
  if s.min_think_tokens and (not s.wait or s.max_waits < 1):
    _fail("sampler.wait", "needs a non-empty wait string and max_waits >= 1")
  adv = rl.advantage or algo.advantage
  if adv == "process" and not any(config.rewards.get(n, 0) for n in DENSE_REWARDS):
    _fail("rl.advantage", f"'process' needs a dense reward with a non-zero weight (one of "
          f"{DENSE_REWARDS}), else every step advantage is 0")


# Rewards that report step rewards (the input of the 'process' estimator).
DENSE_REWARDS = ("process_steps", "process_reference")


def _get(config, dotted: str):
  node = config
  for part in dotted.split("."):
    node = getattr(node, part)
  return node


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
  from r1jax import tokenizers  # pylint: disable=g-import-not-at-top
  return tokenizers.load_tokenizer(tokenizer_spec(config))


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


def _reward_weights(config) -> dict:
  """Reward name -> weight: the built-ins of config.rewards, then config.rewards.custom's
  import paths (ConfigDict keys cannot hold dots, so custom ones live in that one dict)."""
  weights = {k: v for k, v in config.rewards.items() if k != "custom"}
  extra = config.rewards.get("custom") or {}
  if not isinstance(extra, dict):
    _fail("rewards.custom", f"must be a dict of 'pkg.module:function' -> weight, got {extra!r}")
  for name in extra:
    if not isinstance(name, str) or not custom_rewards.is_path(name):
      _fail("rewards.custom", f"key {name!r} is not an import path 'pkg.module:function'")
  weights.update(extra)
  return weights


def reward_specs(config):
  """RewardSpecs of every reward with a non-zero weight (custom ones take no params: bind
  them in your own module)."""
  params = config.reward_params
  return [rewards_registry.RewardSpec(
              name, float(w), {} if custom_rewards.is_path(name) else dict(params.get(name, {})))
          for name, w in _reward_weights(config).items() if w != 0]
