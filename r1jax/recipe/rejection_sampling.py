"""Rejection sampling: K completions per prompt, graded, filtered, kept as an SFT dataset.

DeepSeek-R1's second round, Llama 3's post-training and expert iteration all keep the correct
samples of a model and fine-tune on them. Here, per prompt:
  1. label: the gold answer, or (no gold: "Large Language Models Can Self-Improve") the
     majority answer of the K samples, kept only when its vote share >= min_confidence;
  2. grade every sample with the configured rewards (plus those the filters read);
  3. filter: correct (vs the label), required rewards at 1.0 (R1's format; or every step of
     the trace verified, `process_steps`), finished (not cut at max_new_tokens), length in
     tokens, language consistency of the chain of thought, then de-duplicate and keep at most
     M per prompt, preferring the first samples or the shortest ones.
Kept rows are JSON Lines that `sources.read_distillation` reads ('prompt', 'completion',
'answer', 'id', ...) with provenance (checkpoint, config, reward values), written as a
`shards` dataset: resumable, and never mistaken for complete before it is.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import math
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp

import r1jax
from r1jax import sharding
from r1jax.eval import metrics as eval_metrics
from r1jax.eval.evaluate import answer_key
from r1jax.recipe import generation, runtime, shards
from r1jax.rewards import registry as rewards_registry
from r1jax.sampling.sampler import Sampler, SamplerConfig
from r1jax.train import setup as setup_lib

LABELS = ("gold", "majority", "auto")


@dataclasses.dataclass(frozen=True)
class Filters:
  """Which samples survive. No defaults here: they live in recipe/defaults.py (rs.filters),
  which documents each field; `config_from` builds this from a config."""
  correct: bool  # Keep only samples the accuracy reward grades correct against the label.
  required: tuple[str, ...]  # Rewards that must score 1.0 ('format_strict', ...).
  drop_truncated: bool  # Drop samples cut at max_new_tokens (stop reason 'length').
  min_tokens: int  # Drop samples shorter than this many tokens.
  max_tokens: int  # Drop samples longer than this many tokens; 0 is no limit.
  min_language: float  # Minimum 'language_consistency' score; 0 is off.
  dedup: bool  # Drop repeats of a completion (whitespace-normalised) of the same prompt.
  max_per_prompt: int  # M; 0 keeps every surviving sample.
  prefer: str  # Which M to keep: 'first' (sample order) or 'shortest'.

  def __post_init__(self):
    if isinstance(self.required, str):
      raise ValueError(f"rs.filters.required must be a sequence of reward names, got "
                       f"{self.required!r}")
    object.__setattr__(self, "required", tuple(self.required))  # Hashable, JSON as a list.


@dataclasses.dataclass(frozen=True)
class RSConfig:
  """The rs section (defaults and docs: recipe/defaults.py) plus eval.accuracy_reward."""
  labels: str  # 'gold', 'majority' (self-consistency) or 'auto' (gold when present).
  min_confidence: float  # Majority labels: least share of the K samples voting for it.
  accuracy_reward: str  # The reward that defines "correct".
  filters: Filters

  def __post_init__(self):
    f = self.filters
    if self.labels not in LABELS:
      raise ValueError(f"rs.labels must be one of {LABELS}, got {self.labels!r}")
    if not 0.0 <= self.min_confidence <= 1.0:
      raise ValueError(f"rs.min_confidence must be in [0, 1], got {self.min_confidence}")
    if f.prefer not in PREFER:
      raise ValueError(f"rs.filters.prefer must be one of {sorted(PREFER)}, got {f.prefer!r}")
    for name in ("min_tokens", "max_tokens", "max_per_prompt"):
      if getattr(f, name) < 0:
        raise ValueError(f"rs.filters.{name} must be >= 0, got {getattr(f, name)}")
    if f.max_tokens and f.min_tokens > f.max_tokens:
      raise ValueError(f"rs.filters.min_tokens ({f.min_tokens}) > max_tokens ({f.max_tokens})")
    for field, name in (("accuracy_reward", self.accuracy_reward),
                        *(("filters.required", r) for r in f.required)):
      if name not in rewards_registry.REWARDS:
        raise ValueError(f"rs.{field}: unknown reward {name!r}; known: "
                         f"{sorted(rewards_registry.REWARDS)}")


# Order of the kept samples of a prompt (and so which M survive): name -> sort key of a row.
PREFER: dict[str, Callable[[dict], Any]] = {
    "first": lambda row: row["sample_index"],
    "shortest": lambda row: (row["num_tokens"], row["sample_index"]),
}


def graded_specs(specs: Sequence[rewards_registry.RewardSpec], rs: RSConfig,
                 reward_params: Mapping[str, Mapping] | None = None
                 ) -> list[rewards_registry.RewardSpec]:
  """The configured rewards plus, at weight 0, those the filters read (accuracy, required,
  language), with their parameters from `reward_params`."""
  out = list(specs)
  needed = [rs.accuracy_reward, *rs.filters.required,
            "language_consistency" if rs.filters.min_language > 0 else ""]
  for name in needed:
    if name and name not in {s.name for s in out}:
      out.append(rewards_registry.RewardSpec(name, 0.0, dict((reward_params or {}).get(name,
                                                                                        {}))))
  return out


def label(example: dict, texts: Sequence[str], rs: RSConfig) -> tuple[dict | None, dict]:
  """(example with the answer to grade against, or None to skip the prompt; label info)."""
  gold = example.get("answer")
  has_gold = gold not in (None, "") or ("numbers" in example and "target" in example)
  mode = ("gold" if has_gold else "majority") if rs.labels == "auto" else rs.labels
  if mode == "gold":
    if not has_gold:
      return None, {"skip": "no_gold"}
    return example, {"label": "gold", "confidence": None}
  keys = [answer_key(t) for t in texts]
  majority = eval_metrics.majority_vote(keys, len(keys))
  if majority is None:
    return None, {"skip": "no_majority"}
  confidence = keys.count(majority) / len(keys)
  if confidence < rs.min_confidence:
    return None, {"skip": "low_confidence"}
  info = {"label": "majority", "confidence": confidence}
  if has_gold:
    info["gold_answer"] = gold
  return {**example, "answer": majority}, info


def _normalised(text: str) -> str:
  return " ".join(text.split())


def _reject_reason(rs: RSConfig, scores: Mapping[str, float], num_tokens: int, stop: str,
                   duplicate: bool) -> str | None:
  """The first filter a sample fails (the name counted in the stats), or None to keep it."""
  f = rs.filters
  failed = [name for name in f.required if scores[name] < 1.0]
  if f.correct and scores[rs.accuracy_reward] < 1.0:
    return "incorrect"
  if failed:
    return failed[0]
  if f.drop_truncated and stop == "length":
    return "truncated"
  if num_tokens < f.min_tokens or (f.max_tokens and num_tokens > f.max_tokens):
    return "length"
  if f.min_language > 0 and scores["language_consistency"] < f.min_language:
    return "language"
  return "duplicate" if duplicate else None


def select(examples: Sequence[dict], gens: generation.Generations,
           specs: Sequence[rewards_registry.RewardSpec], rs: RSConfig
           ) -> tuple[list[dict], dict[str, int]]:
  """Kept rows (prompt order, then `prefer` order) and counts of what happened to the rest.

  `specs` must include every reward the filters read (see `graded_specs`).
  """
  stats: collections.Counter = collections.Counter()
  labelled, infos, rows_to_grade = [], [], []
  for p, ex in enumerate(examples):
    stats["prompts"] += 1
    ex_l, info = label(ex, [gens.texts[i] for i in gens.group(p)], rs)
    if ex_l is None:
      stats[f"skipped_{info['skip']}"] += 1
      stats["samples_skipped"] += gens.n
      continue
    if info["label"] == "majority" and "gold_answer" in info:
      stats["majority_matches_gold"] += rewards_registry.is_correct(rewards_registry.call_reward(
          rs.accuracy_reward, f"<answer>{ex_l['answer']}</answer>", ex, {})[0].score)
    labelled.append((p, ex_l))
    infos.append(info)
    rows_to_grade += list(gens.group(p))
  stats["prompts_labelled"] = len(labelled)
  if not labelled:
    return [], dict(stats)
  examples_rep = [ex_l for _, ex_l in labelled for _ in range(gens.n)]
  graded = rewards_registry.grade_batch([gens.texts[i] for i in rows_to_grade], examples_rep,
                                        specs, num_tokens=gens.lengths_N[rows_to_grade])
  f = rs.filters
  kept = []
  for g, ((p, ex_l), info) in enumerate(zip(labelled, infos)):
    candidates, seen = [], set()
    for j in range(gens.n):
      r, i = g * gens.n + j, p * gens.n + j
      # float32 scores, rounded so the JSON reads 1.1 rather than 1.100000023841858.
      scores = {s.name: round(float(graded.per_reward[s.name][r]), 6) for s in specs}
      n_tok = int(gens.lengths_N[i])
      stats["samples"] += 1
      reason = _reject_reason(rs, scores, n_tok, gens.stop_reasons[i],
                              f.dedup and _normalised(gens.texts[i]) in seen)
      if reason is not None:
        stats[f"rejected_{reason}"] += 1
        continue
      seen.add(_normalised(gens.texts[i]))
      candidates.append({
          "id": f"{ex_l['id']}#{j}", "source_id": ex_l["id"], "sample_index": j,
          "task": ex_l.get("task", ""), "question": ex_l.get("question", ex_l["prompt"]),
          "prompt": ex_l["prompt"], "completion": gens.texts[i],
          "answer": str(ex_l.get("answer", "")), **info, "rewards": scores,
          "reward_total": round(float(graded.total[r]), 6), "num_tokens": n_tok,
          "stop_reason": gens.stop_reasons[i]})
    candidates.sort(key=PREFER[f.prefer])
    if f.max_per_prompt and len(candidates) > f.max_per_prompt:
      stats["rejected_over_max"] += len(candidates) - f.max_per_prompt
      candidates = candidates[:f.max_per_prompt]
    stats["prompts_kept"] += bool(candidates)
    kept += candidates
  stats["kept"] = len(kept)
  return kept, dict(stats)


def params_checksum(params) -> float:
  """Sum of |w| over all parameters (float32 on device): tells checkpoints apart in provenance."""
  leaves = jax.tree.leaves(params)
  return float(sum(jnp.sum(jnp.abs(x.astype(jnp.float32))) for x in leaves))


def sum_stats(stats: Sequence[Mapping[str, int]]) -> dict[str, float]:
  total: collections.Counter = collections.Counter()
  for s in stats:
    total.update(s)
  out = dict(sorted(total.items()))
  if out.get("samples"):
    out["keep_rate"] = out.get("kept", 0) / out["samples"]
  return out


def run(params, model_config, tokenizer, examples: Sequence[dict], out_dir, *, rs: RSConfig,
        sampler_cfg: SamplerConfig, specs: Sequence[rewards_registry.RewardSpec],
        batch_size: int, shard_prompts: int, prompt_len: int, seed: int, salt: int = 0,
        checkpoint: Mapping[str, Any], config: Mapping[str, Any] | None = None, mesh=None,
        rules=sharding.DEFAULT_RULES, log: Callable[[str], Any] = print) -> dict:
  """Builds (or resumes, or just returns) the dataset in `out_dir`; returns its info.

  `checkpoint` identifies the model (path, kind): with the sampling settings, rewards, seed,
  salt and the examples it forms the fingerprint a rerun must match. `config` (the full run
  config) goes into the provenance. `specs` should come from `graded_specs`.
  """
  if not examples:
    raise ValueError("rejection sampling: no prompts")
  if shard_prompts < 1 or batch_size < 1:
    raise ValueError(f"rejection sampling: shard_prompts ({shard_prompts}) and batch_size "
                     f"({batch_size}) must be >= 1")
  key = {"checkpoint": dict(checkpoint), "rs": dataclasses.asdict(rs),
         "sampler": dataclasses.asdict(sampler_cfg),
         "specs": [dataclasses.asdict(s) for s in specs], "seed": seed, "salt": salt,
         "batch_size": batch_size, "shard_prompts": shard_prompts, "prompt_len": prompt_len,
         "examples": shards.fingerprint([[e["id"], e["prompt"], e.get("answer")]
                                         for e in examples])}
  num_shards = -(-len(examples) // shard_prompts)
  provenance = {"r1jax_version": r1jax.__version__, "checkpoint": dict(checkpoint),
                "model_config": dataclasses.asdict(model_config),
                "params_abs_sum": params_checksum(params), "sampler": key["sampler"],
                "rs": key["rs"], "specs": key["specs"], "seed": seed, "salt": salt,
                "num_prompts": len(examples), "config": dict(config or {})}
  if shards.is_complete(out_dir):
    info = shards.load_info(out_dir)
    if info["fingerprint"] != shards.fingerprint(key):
      raise ValueError(f"{out_dir}: holds a finished dataset built from other inputs; use a "
                       f"new directory")
    log(f"{out_dir}: dataset already complete ({info['rows']} rows)")
    return info
  writer = shards.ShardedWriter(out_dir, key, num_shards, provenance)
  started_with = writer.provenance["params_abs_sum"]  # This run's, or the interrupted run's.
  if not math.isclose(started_with, provenance["params_abs_sum"], rel_tol=1e-4):
    raise ValueError(f"{out_dir}: the checkpoint's weights changed since this dataset was "
                     f"started (sum |w| {started_with:.6g} then, "
                     f"{provenance['params_abs_sum']:.6g} now); use a new directory")
  sampler = None
  for s in range(num_shards):
    if writer.done(s):
      log(f"shard {s + 1}/{num_shards}: already written, skipped")
      continue
    if sampler is None:  # Compiled only when something is left to sample.
      sampler = Sampler(model_config, sampler_cfg, mesh, rules)
    chunk = examples[s * shard_prompts:(s + 1) * shard_prompts]
    gens = generation.generate(sampler, params, tokenizer, chunk, batch_size, prompt_len,
                               seed, salt)
    rows, stats = select(chunk, gens, specs, rs)
    writer.write_shard(s, rows, stats)
    log(f"shard {s + 1}/{num_shards}: kept {len(rows)} of {stats.get('samples', 0)} graded "
        f"samples ({len(chunk)} prompts)")
  summary = sum_stats(writer.shard_stats())
  info = writer.finalize(summary)
  log(f"{out_dir}: {info['rows']} rows; " + ", ".join(
      f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in summary.items()))
  return info


def config_from(config) -> RSConfig:
  """RSConfig from the config's `rs` section (errors name the field)."""
  c = config.rs
  try:
    return RSConfig(labels=c.labels, min_confidence=float(c.min_confidence),
                    accuracy_reward=config.eval.accuracy_reward,
                    filters=Filters(**dict(c.filters)))
  except TypeError as e:
    raise setup_lib.ConfigError(f"config.rs.filters: {e}") from e
  except ValueError as e:
    raise setup_lib.ConfigError(f"config.{e}") from e


def prompts(config, tokenizer, log: Callable[[str], Any] = print) -> list[dict]:
  """The first rs.num_prompts examples of rs.split whose prompt fits data.max_prompt_len."""
  examples = runtime.examples(config, config.rs.split, config.rs.num_prompts)
  fits = [e for e in examples if len(tokenizer.encode(e["prompt"])) <= config.data.max_prompt_len]
  if len(fits) < len(examples):
    log(f"rejection sampling: {len(examples) - len(fits)} of {len(examples)} prompts are longer "
        f"than data.max_prompt_len={config.data.max_prompt_len} tokens and are skipped")
  if not fits:
    raise setup_lib.ConfigError(f"config.data.max_prompt_len: no prompt of {config.rs.split!r} "
                                f"fits in {config.data.max_prompt_len} tokens")
  return fits


def run_from_config(config, workdir, log: Callable[[str], Any] = print) -> dict:
  """The rejection_sampling_main command: the dataset goes to `workdir`; returns its info."""
  setup_lib.validate_config(config)
  rs = config_from(config)
  rt = runtime.load(config)
  runtime.check_batch("rs.prompts_per_batch", config.rs.prompts_per_batch, rt.mesh)
  examples = prompts(config, rt.tokenizer, log)
  specs = graded_specs(setup_lib.reward_specs(config), rs, dict(config.reward_params))
  return run(rt.params, rt.model_config, rt.tokenizer, examples, workdir, rs=rs,
             sampler_cfg=runtime.sampler_config(config, rt.tokenizer, rt.model_config),
             specs=specs, batch_size=config.rs.prompts_per_batch,
             shard_prompts=config.rs.shard_prompts, prompt_len=config.data.max_prompt_len,
             seed=config.seed, salt=config.rs.salt, checkpoint=rt.checkpoint,
             config=json.loads(config.to_json_best_effort()), mesh=rt.mesh, rules=rt.rules,
             log=log)
