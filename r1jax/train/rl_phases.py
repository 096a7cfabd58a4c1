"""The phases of one RL step, each a named, testable piece of `rl_trainer`'s loop.

  fns = build_step_fns(...)                       # the jitted device steps, built once
  roll = rollout(...)                             # prompts -> n completions (device + host)
  graded = grade(...)                             # host: decode + rule rewards
  roll, graded, info = dynamic_rollout(...)       # DAPO: rounds of rollout+grade until the
                                                  # batch holds enough groups with signal
  step_r, step_m = place_step_rewards(...)        # dense rewards at character offsets -> tokens
  state, upd = update(...)                        # minibatch optimizer steps
  metrics = rl_step_metrics(...)                  # the step's metrics, one dict

Shape legend as in rl_step.py: B prompts, G group size, N = B * G rollouts (group-contiguous),
P prompt length, T completion length. "Local" arrays hold this process's rows only (numpy);
"global" ones are jax arrays over every process's rows (distributed.global_rows).
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from r1jax import distributed
from r1jax.eval.evaluate import completions_text, example_keys
from r1jax.rewards import registry as rewards_registry
from r1jax.rl import advantages as adv_lib
from r1jax.rl import filtering
from r1jax.rl import losses
from r1jax.sampling import stop_text
from r1jax.sampling.sampler import STOP_LENGTH
from r1jax.train import rl_step
from r1jax.train import state as state_lib


class RLSettings(NamedTuple):
  """The config's RL choices after defaults are resolved (one place reads config.rl)."""
  advantage: str  # Estimator name.
  kl_coef: float
  kl_in_reward: bool  # KL penalty in the reward (True) or as a loss term.
  kl_estimator: str
  use_ref: bool  # A reference policy is scored (kl_coef > 0).
  critic: str  # 'shared' | 'separate' (PPO only).
  temperature: float  # Rollout temperature; scoring uses the same.
  # A separate pass scores the old policy. Not when the rollouts train one optimizer step (one
  # pass, one minibatch): the old log-probs then equal the update's own, so the update uses
  # them behind a stop-gradient (as TRL does) and the pass is skipped. Kept when something
  # reads them before the update: a KL penalty in the reward, or a critic's old values.
  score_old: bool


def rl_settings(config, algo) -> RLSettings:
  rl = config.rl
  in_reward = algo.kl_in_reward if not rl.kl_placement else rl.kl_placement == "reward"
  estimator = rl.kl_estimator or ("k1" if in_reward else "k3")
  one_step = rl.num_iterations == 1 and rl.num_minibatches == 1
  score_old = not one_step or algo.critic or (in_reward and rl.kl_coef > 0)
  return RLSettings(advantage=rl.advantage or algo.advantage, kl_coef=float(rl.kl_coef),
                    kl_in_reward=in_reward, kl_estimator=estimator,
                    use_ref=rl.kl_coef > 0, critic=rl.critic,
                    temperature=float(config.sampler.temperature), score_old=bool(score_old))


def loss_config(config, algo) -> losses.LossConfig:
  rl, s = config.rl, rl_settings(config, algo)
  return losses.LossConfig(
      eps_low=algo.eps_low if rl.eps_low < 0 else rl.eps_low,
      eps_high=algo.eps_high if rl.eps_high < 0 else rl.eps_high,
      dual_clip_c=rl.dual_clip_c or None,
      aggregation=rl.aggregation or algo.aggregation,
      norm_len=rl.norm_len or config.sampler.max_new_tokens,
      kl_coef=0.0 if s.kl_in_reward else s.kl_coef,
      kl_estimator=s.kl_estimator,
      kl_in_loss=not s.kl_in_reward,
      entropy_coef=rl.entropy_coef)


def optimizers(config, algo):
  """(policy optimizer from config.optim, value optimizer for critic algorithms or None).

  The schedule spans every optimizer step of the run (steps x passes x minibatches); the
  value model's optimizer is AdamW at rl.value_lr, constant."""
  total = config.total_steps * config.rl.num_iterations * config.rl.num_minibatches
  policy = state_lib.optimizer_from_config(config.optim, total)
  value = (state_lib.optimizer_from_config({"lr": config.rl.value_lr}, total)
           if algo.critic else None)
  return policy, value


class StepFns(NamedTuple):
  """The trainer's jitted device steps (what a run, a test and the benchmark all call)."""
  sequences: Any  # (prompts_BxP, pmask_BxP, completion_NxT, cmask_NxT) -> tokens, seg, pos
  score: Any  # (params, value_params, tokens, seg, pos) -> (logp_NxT, values_NxT)
  advantages: Any  # see rl_step.advantage_step
  update: Any  # (state, Rollouts, rng) -> (state, metrics)
  critic_update: Any  # the same, policy frozen (PPO critic warm-up); None without a critic
  take: Any  # (Rollouts, idx) -> the rows idx


def build_step_fns(config, algo, model_config, optimizer, value_optimizer, mesh,
                   state_shard) -> StepFns:
  s = rl_settings(config, algo)
  G, T = config.sampler.group_size, config.sampler.max_new_tokens
  critic = s.critic if algo.critic else "shared"
  adv_cfg = adv_lib.AdvantageConfig(scale_by_std=config.rl.scale_by_std,
                                    grpo_norm=config.rl.grpo_norm, gamma=config.rl.gamma,
                                    lam=config.rl.lam, add_outcome=config.rl.add_outcome)
  update = functools.partial(
      rl_step.rl_update_step, model_config=model_config, optimizer=optimizer,
      value_optimizer=value_optimizer, algo=algo, loss_cfg=loss_config(config, algo),
      vf_coef=config.rl.vf_coef, vf_clip=config.rl.vf_clip or None,
      num_microbatches=config.rl.grad_accum, use_ref=s.use_ref, temperature=s.temperature,
      critic=critic, old_is_current=not s.score_old)
  jit_update = lambda **kw: jax.jit(
      functools.partial(update, **kw), donate_argnums=0,
      out_shardings=(state_shard, None) if mesh is not None else None)
  return StepFns(
      sequences=jax.jit(functools.partial(rl_step.sequences, n=G)),
      score=jax.jit(functools.partial(rl_step.score_step, model_config=model_config, T=T,
                                      num_chunks=config.rl.score_chunks,
                                      temperature=s.temperature, critic=critic)),
      advantages=jax.jit(functools.partial(
          rl_step.advantage_step, algo=algo, name=s.advantage, group_size=G, adv_cfg=adv_cfg,
          kl_in_reward=s.kl_in_reward, kl_coef=s.kl_coef, kl_estimator=s.kl_estimator)),
      update=jit_update(),
      critic_update=jit_update(update_policy=False) if algo.critic else None,
      take=jax.jit(lambda batch, idx: jax.tree.map(lambda x: x[idx], batch)))


class Rollout(NamedTuple):
  """One step's sampled batch: global device arrays and this process's host copies."""
  examples: list  # Local: one example per local rollout row.
  prompts_BxP: jax.Array
  prompt_mask_BxP: jax.Array
  tokens_NxT: jax.Array
  mask_NxT: jax.Array  # int32, 1 on generated tokens
  forced_NxT: jax.Array  # int32, 1 where budget forcing inserted the token
  stop_N: jax.Array
  host: dict  # Local numpy: tokens, lengths, stop, forced.


def rollout(sampler, params, batch, seed: int, step: int, G: int, rows2,
            tokenizer=None) -> Rollout:
  """Samples G completions for each prompt of `batch` (this process's PromptBatch); with a
  tokenizer, completions are cut at the first text-level stop string (however the tokenizer
  spelled it in context), so nothing after it is graded or trained on."""
  keys = jax.random.key_data(example_keys(seed, step + 1, batch.examples))
  prompts, pmask, keys = (distributed.global_rows(x, rows2) for x in
                          (batch.prompt_tokens_BxP, batch.prompt_mask_BxP, keys))
  out = sampler(params, prompts, pmask, keys)
  if tokenizer is not None:
    out = stop_text.cut_output(out, tokenizer, sampler.cfg.stop_strings)
  host = {"tokens": distributed.local_rows(out.tokens_NxT),
          "lengths": distributed.local_rows(out.lengths_N),
          "stop": distributed.local_rows(out.stop_reason_N),
          "forced": distributed.local_rows(out.forced_mask_NxT)}
  examples = [e for e in batch.examples for _ in range(G)]
  return Rollout(examples, prompts, pmask, out.tokens_NxT, out.mask_NxT, out.forced_mask_NxT,
                 out.stop_reason_N, host)


class Scored(NamedTuple):
  """The rollouts as model inputs, with the log-prob passes that run before the update."""
  tokens_NxL: jax.Array
  segment_NxL: jax.Array
  positions_NxL: jax.Array
  old_logp_NxT: jax.Array  # Zeros when settings.score_old is False (the update's own).
  old_values_NxT: jax.Array  # Zeros without a critic.
  ref_logp_NxT: jax.Array  # The old log-probs without a reference (unused then).

  def rollouts(self, mask_NxT, advantages_NxT, returns_NxT) -> rl_step.Rollouts:
    """What the update reads: these inputs and passes with the step's mask and advantages."""
    return rl_step.Rollouts(self.tokens_NxL, self.segment_NxL, self.positions_NxL, mask_NxT,
                            self.old_logp_NxT, self.ref_logp_NxT, advantages_NxT, returns_NxT,
                            self.old_values_NxT)


def score(fns: StepFns, settings: RLSettings, state, ref_params, roll: Rollout) -> Scored:
  """Dispatches the old-policy and reference passes (asynchronously: the host grades while
  the device computes them; nothing here waits)."""
  tokens, seg, pos = fns.sequences(roll.prompts_BxP, roll.prompt_mask_BxP, roll.tokens_NxT,
                                   roll.mask_NxT)
  if settings.score_old:
    old_logp, old_values = fns.score(state.params, state.value_params, tokens, seg, pos)
  else:
    old_logp = old_values = jnp.zeros(roll.mask_NxT.shape, jnp.float32)
  ref_logp = old_logp
  if settings.use_ref:
    ref_logp, _ = fns.score(ref_params, None, tokens, seg, pos)
  return Scored(tokens, seg, pos, old_logp, old_values, ref_logp)


def loss_mask(roll: Rollout, config) -> jax.Array:
  """float32 [N, T]: generated tokens, less forced ones and truncated rows per config."""
  mask = roll.mask_NxT.astype(jnp.float32)
  if config.rl.mask_forced_tokens:
    mask = mask * (1 - roll.forced_NxT.astype(jnp.float32))
  if config.rl.overlong_filter:
    mask = filtering.overlong_mask(roll.stop_N == STOP_LENGTH, mask)
  return mask


def grade(tokenizer, roll: Rollout, specs, pool, timeout_s: float, stop_strings=()):
  texts = completions_text(tokenizer, roll.host["tokens"], roll.host["lengths"], stop_strings)
  return rewards_registry.grade_batch(texts, roll.examples, specs, pool=pool,
                                      timeout_s=timeout_s, num_tokens=roll.host["lengths"])


def place_step_rewards(tokenizer, tokens_NxT, lengths_N, steps, T: int):
  """Dense rewards reported at character offsets -> (step_rewards_NxT, step_mask_NxT).

  A step ending at offset o (just past its last character) lands on the token that emits
  character o - 1, found from the tokenizer's own offsets in the text the grader read
  (`completions_text`: a final eos dropped). step_mask marks every step end, so a step whose
  reward is exactly 0 (a wrong step) still counts in the group statistics.
  """
  rewards = np.zeros((len(steps), T), np.float32)
  mask = np.zeros((len(steps), T), np.float32)
  for i, row_steps in enumerate(steps):
    if not row_steps:
      continue
    ids = [int(t) for t in tokens_NxT[i, :int(lengths_N[i])]]
    if ids and ids[-1] == tokenizer.eos_id:
      ids = ids[:-1]
    _, ends = tokenizer.decode_with_offsets(ids)
    for offset, r in row_steps:
      t = min(int(np.searchsorted(ends, offset, side="left")), max(len(ends) - 1, 0))
      rewards[i, t] += r
      mask[i, t] = 1.0
  return rewards, mask


def _take_rows(graded, rows: np.ndarray):
  return rewards_registry.BatchRewards(
      total=graded.total[rows], per_reward={k: v[rows] for k, v in graded.per_reward.items()},
      steps=[graded.steps[i] for i in rows], failures=dict(graded.failures))


def _concat_graded(parts):
  failures = {}
  for p in parts:
    for k, v in p.failures.items():
      failures[k] = failures.get(k, 0) + v
  return rewards_registry.BatchRewards(
      total=np.concatenate([p.total for p in parts]),
      per_reward={k: np.concatenate([p.per_reward[k] for p in parts])
                  for k in parts[0].per_reward},
      steps=[s for p in parts for s in p.steps], failures=failures)


class DynamicInfo(NamedTuple):
  keep_N: np.ndarray  # Global float32 [N]: 1 for rows of kept groups, 0 for padding groups.
  keep_local: np.ndarray  # This process's rows of keep_N.
  sampled: Any  # BatchRewards of every rollout sampled this step (for reward metrics).
  sampled_lengths: np.ndarray
  sampled_stop: np.ndarray
  metrics: dict


def dynamic_rollout(sampler, params, data, tokenizer, specs, pool, config, step, rows1,
                    rows2):
  """DAPO dynamic sampling: sample rounds of prompts until the batch holds prompts_per_step
  groups whose rewards differ (bounded by rl.dynamic_max_rounds; each round samples
  rl.dynamic_oversample batches of prompts). Extra kept groups are dropped, as in DAPO.
  If rounds run out first, the batch is topped up with zero-variance groups that are masked
  out (keep 0); the trainer skips any minibatch without a kept row, so the optimizer never
  steps on an empty batch. Returns (Rollout, graded rows of that batch, DynamicInfo).
  """
  G = config.sampler.group_size
  rl = config.rl
  kept, spare, sampled, rounds, groups_seen = [], [], [], 0, 0
  while True:
    rounds += 1
    for _ in range(rl.dynamic_oversample):
      batch = data.rl.next()
      roll = rollout(sampler, params, batch, config.seed, step, G, rows2, tokenizer)
      graded = grade(tokenizer, roll, specs, pool, config.reward_timeout_s,
                     sampler.cfg.stop_strings)
      sampled.append((graded, roll.host["lengths"], roll.host["stop"]))
      B = len(batch.examples)
      groups_seen += B
      r_BxG = graded.total.reshape(B, G)
      for b in range(B):
        rows = np.arange(b * G, (b + 1) * G)
        rec = {"prompt": batch.prompt_tokens_BxP[b], "pmask": batch.prompt_mask_BxP[b],
               "tokens": roll.host["tokens"][rows], "lengths": roll.host["lengths"][rows],
               "stop": roll.host["stop"][rows], "forced": roll.host["forced"][rows],
               "examples": roll.examples[b * G:(b + 1) * G], "graded": _take_rows(graded, rows)}
        (kept if r_BxG[b].max() != r_BxG[b].min() else spare).append(rec)
    B_local = len(batch.examples)
    # Every process must make the same number of sampler calls (they are collective).
    enough = all(distributed.allgather_json(len(kept) >= B_local))
    if enough or rounds >= rl.dynamic_max_rounds:
      break
  chosen = kept[:B_local]
  n_kept = len(chosen)
  chosen += spare[:B_local - n_kept]
  keep_local = np.repeat(np.arange(B_local) < n_kept, G).astype(np.float32)
  stack = lambda k: np.stack([r[k] for r in chosen])
  cat = lambda k: np.concatenate([r[k] for r in chosen])
  prompts, pmask = (distributed.global_rows(stack(k), rows2) for k in ("prompt", "pmask"))
  tokens, forced = (distributed.global_rows(cat(k), rows2) for k in ("tokens", "forced"))
  lengths, stop = cat("lengths"), cat("stop")
  T = tokens.shape[1]
  cmask = (np.arange(T)[None] < lengths[:, None]).astype(np.int32)
  host = {"tokens": cat("tokens"), "lengths": lengths, "stop": stop, "forced": cat("forced")}
  roll = Rollout([e for r in chosen for e in r["examples"]], prompts, pmask, tokens,
                 distributed.global_rows(cmask, rows2), forced,
                 distributed.global_rows(stop, rows1), host)
  graded = _concat_graded([r["graded"] for r in chosen])
  counts = distributed.allgather_json([n_kept, groups_seen])
  total_kept, total_seen = sum(c[0] for c in counts), sum(c[1] for c in counts)
  metrics = {"dapo/kept_groups": float(total_kept),
             "dapo/sampled_groups": float(total_seen),
             "dapo/dropped_groups": float(total_seen - total_kept),
             "dapo/rounds": float(rounds),
             "dapo/refill_rounds": float(rounds - 1),
             "dapo/padded_groups": float(B_local * len(counts) - total_kept)}
  sampled_graded = _concat_graded([g for g, _, _ in sampled])
  info = DynamicInfo(distributed.allgather_rows(keep_local[:, None])[:, 0], keep_local,
                     sampled_graded,
                     np.concatenate([l for _, l, _ in sampled]),
                     np.concatenate([s for _, _, s in sampled]), metrics)
  return roll, graded, info


def update(fns: StepFns, state, rollouts, config, step: int, keep_N=None,
           critic_only: bool = False):
  """rl.num_iterations passes of rl.num_minibatches optimizer steps over the rollouts.

  keep_N (host, global rows): minibatches holding no kept row are skipped, never stepped.
  Returns (state, metrics averaged over the steps taken, number of steps skipped).
  """
  N = rollouts.mask_NxT.shape[0]
  mb_rows = N // config.rl.num_minibatches
  rng = np.random.default_rng([config.seed, step])
  fn = fns.critic_update if critic_only else fns.update
  taken, skipped = [], 0
  for _ in range(config.rl.num_iterations):
    perm = rng.permutation(N)
    for m in range(config.rl.num_minibatches):
      idx = np.sort(perm[m * mb_rows:(m + 1) * mb_rows]).astype(np.int32)
      if keep_N is not None and not np.any(keep_N[idx] > 0):
        skipped += 1
        continue
      state, metrics = fn(state, fns.take(rollouts, idx), None)
      taken.append(metrics)
  if not taken:
    return state, {}, skipped
  taken = distributed.fetch(taken)
  return state, {k: float(np.mean([m[k] for m in taken])) for k in taken[0]}, skipped


def rl_step_metrics(upd: dict, adv_metrics: dict, graded, lengths, stop, forced_tokens,
                    acc_name: str, skipped_prompts: int, skipped_updates: int) -> dict:
  """The step's metrics from the update, the advantages and the graded rollouts (all
  processes': host columns are gathered once, counters once)."""
  m = {f"train/{k}" if k not in ("loss", "kl") else k: v for k, v in upd.items()}
  m.setdefault("loss", 0.0)
  m.setdefault("train/grad_norm", 0.0)
  m["train/skipped_updates"] = float(skipped_updates)
  m.update({f"adv/{k}": float(v) for k, v in distributed.fetch(adv_metrics).items()})
  cols = {"total": graded.total, **{f"r/{k}": v for k, v in graded.per_reward.items()},
          "length": lengths, "clipped": stop == STOP_LENGTH}
  rows = distributed.allgather_rows(np.stack([np.asarray(v, np.float64).reshape(-1)
                                              for v in cols.values()], axis=1))
  col = dict(zip(cols, rows.T))
  counts = distributed.allgather_json({"failures": dict(graded.failures),
                                       "skipped": skipped_prompts, "forced": forced_tokens})
  m["reward/total"] = float(np.mean(col["total"]))
  for name in graded.per_reward:
    m[f"reward/{name}"] = float(np.mean(col[f"r/{name}"]))
  for name in graded.failures:
    m[f"reward_failures/{name}"] = float(sum(c["failures"][name] for c in counts))
  acc = col.get(f"r/{acc_name}", col["total"])
  m["accuracy"] = float(np.mean(rewards_registry.is_correct(acc)))
  m["response/length_mean"] = float(np.mean(col["length"]))
  m["response/length_max"] = float(np.max(col["length"]))
  m["response/clipped_ratio"] = float(np.mean(col["clipped"]))
  m["response/forced_tokens"] = float(sum(c["forced"] for c in counts))
  m["data/skipped_prompts"] = float(sum(c["skipped"] for c in counts))
  return m
