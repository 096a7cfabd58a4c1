"""Config checks every main runs before any compute or any write; errors name the field.

`validate_common` holds what RL, SFT, rejection sampling, expert iteration and eval share;
`validate_config` adds the RL trainer's rules. A failure is a ConfigError: one line
("config.<field>: <value and what is allowed>") that the mains print without a traceback.
"""
from __future__ import annotations

import math

from r1jax import distributed
from r1jax.models import presets
from r1jax.rewards import custom as custom_rewards
from r1jax.rewards import registry as rewards_registry
from r1jax.rl.algorithms import get_algorithm
from r1jax.train import exit_status


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
  # 0 RL steps is a run of its own: the warm start, evaluated and published as <workdir>/model
  # (the shared starting point of runs that compare training methods, e.g. RL vs expert
  # iteration).
  if not isinstance(config.total_steps, int) or config.total_steps < 0:
    _fail("total_steps", f"must be an int >= 0, got {config.total_steps!r}")
  for field in ("prompts_per_step", "sampler.max_new_tokens",
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
