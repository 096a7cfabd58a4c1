"""The one RL loop: prompts -> n rollouts -> rewards -> advantages -> minibatch updates.

Every algorithm (GRPO, Dr. GRPO, DAPO, GSPO, RLOO, REINFORCE++, PPO) runs through this loop;
they differ only by registry entries (r1jax/rl/algorithms.py) and config. Array work happens
in jitted pure functions from rl_step.py; text exists only on the host (decode + grading).
"""
from __future__ import annotations

import contextlib
import functools
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from r1jax import distributed, sharding
from r1jax.data import pipeline as pipeline_lib
from r1jax.eval import plots
from r1jax.eval.evaluate import Evaluator, completions_text, example_keys
from r1jax.rewards import registry as rewards_registry
from r1jax.rl import advantages as adv_lib
from r1jax.rl import losses
from r1jax.rl.algorithms import get_algorithm
from r1jax.sampling import stop_text
from r1jax.sampling.sampler import STOP_LENGTH, Sampler
from r1jax.train import checkpoint as ckpt_lib
from r1jax.train import metrics as metrics_lib
from r1jax.train import publish
from r1jax.train import rl_step
from r1jax.train import setup as setup_lib
from r1jax.train import sft_trainer
from r1jax.train.state import create_state, make_optimizer


def _step_rewards_to_tokens(tokenizer, tokens_NxT, lengths_N, steps, T):
  """Dense rewards at character offsets -> rewards at the token covering each offset."""
  out = np.zeros((len(steps), T), np.float32)
  for i, row_steps in enumerate(steps):
    if not row_steps:
      continue
    ends, pos = [], 0
    for t in tokens_NxT[i, :int(lengths_N[i])]:
      pos += len(tokenizer.decode([int(t)]))
      ends.append(pos)
    for offset, r in row_steps:
      t = int(np.searchsorted(ends, offset, side="left"))
      out[i, min(t, max(len(ends) - 1, 0))] += r
  return out


def loss_config(config, algo) -> losses.LossConfig:
  rl = config.rl
  return losses.LossConfig(
      eps_low=algo.eps_low if rl.eps_low < 0 else rl.eps_low,
      eps_high=algo.eps_high if rl.eps_high < 0 else rl.eps_high,
      dual_clip_c=rl.dual_clip_c or None,
      aggregation=rl.aggregation or algo.aggregation,
      norm_len=rl.norm_len or config.sampler.max_new_tokens,
      kl_coef=0.0 if algo.kl_in_reward else rl.kl_coef,
      kl_estimator=rl.kl_estimator,
      kl_in_loss=not algo.kl_in_reward,
      entropy_coef=rl.entropy_coef)


def train_and_evaluate(config, workdir: str) -> dict:
  """Runs (optional SFT warm start then) RL per `config`; returns the final eval metrics.

  Every process of a multi-process run calls this with the same config and workdir (a local
  path on a file system all of them share); process 0 alone writes logs, summaries and plots.
  """
  workdir = pathlib.Path(workdir)
  setup_lib.validate_config(config)  # Bad configs fail here, before any compute.
  distributed.initialize(config.get("distributed"))  # Before anything touches a device.
  primary = distributed.is_primary()
  workdir.mkdir(parents=True, exist_ok=True)
  algo = get_algorithm(config.rl.algorithm)
  tok = setup_lib.load_tokenizer(config)
  mesh = setup_lib.build_mesh(config)
  rules = setup_lib.build_rules(config)
  model_config, init_params_fn = setup_lib.build_model(config, tok, mesh, rules)
  setup_lib.validate_batching(config, mesh)
  if primary:
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))
  publish.write_run_model_config(workdir, model_config)  # Checkpoint steps load as models.

  G, B = config.sampler.group_size, config.prompts_per_step
  N, T = B * G, config.sampler.max_new_tokens
  total_opt_steps = config.total_steps * config.rl.num_iterations * config.rl.num_minibatches
  optimizer = make_optimizer(config.optim.lr, config.optim.schedule, config.optim.warmup_steps,
                             total_opt_steps, config.optim.weight_decay, config.optim.grad_clip,
                             config.optim.b1, config.optim.b2, name=config.optim.name)
  value_optimizer = make_optimizer(config.rl.value_lr) if algo.critic else None
  p_shard = sharding.param_shardings(model_config, mesh, rules)
  state, state_shard = create_state(
      init_params_fn, optimizer, config.seed, mesh, p_shard,
      init_value_fn=rl_step.value_head_init(model_config) if algo.critic else None,
      value_optimizer=value_optimizer)

  data = setup_lib.build_data(config, tok)
  stop = setup_lib.stop_tokens(config, tok)
  sampler = Sampler(model_config, setup_lib.sampler_config(config, tok, stop, model_config),
                    mesh, rules)
  evaluator = Evaluator(model_config, tok, data.eval_examples, config.eval.accuracy_reward,
                        T, config.eval.batch_size, config.eval.k, config.eval.k_problems,
                        mesh=mesh, seed=config.seed, stop=stop,
                        prompt_len=config.data.max_prompt_len)
  specs = setup_lib.reward_specs(config)
  writer = metrics_lib.MetricsWriter(workdir, jax.process_index())
  ckpt = ckpt_lib.Checkpointer(workdir / "checkpoints", keep=config.checkpoint.keep,
                               async_save=config.checkpoint.async_save,
                               best_metric=config.checkpoint.best_metric or None)
  ckpt_lib.install_sigterm_handler()
  use_ref = config.rl.kl_coef > 0

  # Resume, or warm-start (SFT) and take the reference snapshot.
  start_step, eval_history = 0, []
  saved = {"state": state, "ref_params": state.params}
  if ckpt.latest_step() is not None:
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                            saved)
    saved, extra = ckpt.restore(abstract_state=abstract)
    state, ref_params = saved["state"], saved["ref_params"]
    start_step = int(extra["rl_step"])
    data.rl.restore(_process_data_state(extra["data"]))
    eval_history = extra.get("eval_history", [])
    _say(f"Resumed from {ckpt.directory} at RL step {start_step}", flush=True)
  else:
    if config.warm_start.sft_steps > 0:
      state = _warm_start(config, state, model_config, data, mesh, state_shard, writer)
    ref_params = jax.tree.map(jnp.copy, state.params)

  # Jitted pieces, compiled once. Shardings follow the inputs (sampler outputs are row-sharded).
  seqs_fn = jax.jit(functools.partial(rl_step.sequences, n=G))
  score_fn = jax.jit(functools.partial(rl_step.score_step, model_config=model_config, T=T,
                                       num_chunks=config.rl.score_chunks))
  adv_cfg = adv_lib.AdvantageConfig(scale_by_std=config.rl.scale_by_std,
                                    grpo_norm=config.rl.grpo_norm, gamma=config.rl.gamma,
                                    lam=config.rl.lam,
                                    kl_coef=config.rl.kl_coef if algo.kl_in_reward else 0.0,
                                    add_outcome=config.rl.add_outcome)
  adv_name = config.rl.advantage or algo.advantage
  adv_fn = jax.jit(functools.partial(
      rl_step.advantage_step, algo=algo, name=adv_name, group_size=G, adv_cfg=adv_cfg,
      kl_estimator=config.rl.kl_estimator))
  update_fn = jax.jit(
      functools.partial(rl_step.rl_update_step, model_config=model_config, optimizer=optimizer,
                        value_optimizer=value_optimizer, algo=algo,
                        loss_cfg=loss_config(config, algo), vf_coef=config.rl.vf_coef,
                        vf_clip=config.rl.vf_clip or None,
                        num_microbatches=config.rl.grad_accum, use_ref=use_ref),
      donate_argnums=0, out_shardings=(state_shard, None) if mesh is not None else None)
  take_fn = jax.jit(lambda batch, idx: jax.tree.map(lambda x: x[idx], batch))
  ctx = lambda: sharding.activation_sharding(mesh, rules)  # A fresh context per use.
  # Host <-> device: each process holds its own rows; global arrays are built from them.
  rows1, rows2 = (sharding.batch_sharding(mesh, nd) for nd in (1, 2))

  def run_eval(step):
    with ctx():
      res = evaluator.evaluate(state.params)
    eval_history.append({"step": step, **res.metrics})
    writer.write(step, res.metrics)
    _say(f"eval @ RL step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in
                                                   res.metrics.items()), flush=True)
    return res.metrics

  def save(step, metrics=None):
    # Positions of every process's pipeline (each reads its own share of the data).
    data_states = {"process_count": jax.process_count(),
                   "states": distributed.allgather_json(data.rl.state())}
    extra = {"rl_step": step, "data": data_states, "eval_history": eval_history}
    ckpt.save(step, {"state": state, "ref_params": ref_params}, extra,
              metrics=metrics if ckpt.best_metric else None, force=True)
    # <workdir>/model at the end, <workdir>/model_best on a new best: what the chain loads.
    publish.on_checkpoint(workdir, config, model_config, state.params, step, metrics,
                          eval_history)

  if start_step == 0:
    first = run_eval(0)
    save(0, first)
  progress = metrics_lib.ConsoleProgress(
      config.total_steps, keys=("reward/total", "accuracy", "loss", "kl", "response/length_mean"),
      process_index=jax.process_index())
  pool = contextlib.nullcontext()
  if config.reward_workers > 0:
    from r1jax.rewards.pool import RewardPool  # pylint: disable=g-import-not-at-top
    pool = RewardPool(config.reward_workers)
  with pool as reward_pool:
    for step in range(start_step, config.total_steps):
      t_step = time.perf_counter()
      timer = metrics_lib.Timer()
      with timer("data"):
        batch = data.rl.next()
        examples = [e for e in batch.examples for _ in range(G)]
        keys = jax.random.key_data(example_keys(config.seed, step + 1, batch.examples))
        prompts, prompt_mask, keys = (distributed.global_rows(x, rows2) for x in
                                      (batch.prompt_tokens_BxP, batch.prompt_mask_BxP, keys))
      with timer("sampling"), ctx():
        out = sampler(state.params, prompts, prompt_mask, keys)
        out = stop_text.cut_output(out, tok, sampler.cfg.stop_strings)  # Text-level stops.
        # This process's rollouts: the rows of its own prompts (prompt-major order).
        host = {"tokens": distributed.local_rows(out.tokens_NxT),
                "lengths": distributed.local_rows(out.lengths_N),
                "stop": distributed.local_rows(out.stop_reason_N)}
      with ctx():
        # Dispatched before grading: the old/reference log-prob passes do not need rewards,
        # so with async dispatch the accelerator computes them while the host grades.
        mask = out.mask_NxT.astype(jnp.float32)
        if config.rl.mask_forced_tokens:
          mask = mask * (1 - out.forced_mask_NxT.astype(jnp.float32))
        if config.rl.overlong_filter:
          mask = mask * (out.stop_reason_N != STOP_LENGTH)[:, None].astype(jnp.float32)
        tokens, seg, pos = seqs_fn(prompts, prompt_mask, out.tokens_NxT, out.mask_NxT)
        old_logp, old_values = score_fn(state.params, state.value_params, tokens, seg, pos)
        ref_logp = old_logp
        if use_ref:
          ref_logp, _ = score_fn(ref_params, None, tokens, seg, pos)
      with timer("rewards"):
        texts = completions_text(tok, host["tokens"], host["lengths"], sampler.cfg.stop_strings)
        graded = rewards_registry.grade_batch(texts, examples, specs, pool=reward_pool,
                                              timeout_s=config.reward_timeout_s,
                                              num_tokens=host["lengths"])
        step_rewards = np.zeros((len(texts), T), np.float32)
        if adv_name == "process":
          step_rewards = _step_rewards_to_tokens(tok, host["tokens"], host["lengths"],
                                                 graded.steps, T)
      with timer("update"), ctx():
        advantages, returns, mask, adv_metrics = adv_fn(
            distributed.global_rows(graded.total.astype(np.float32), rows1), mask, old_logp,
            ref_logp, old_values, distributed.global_rows(step_rewards, rows2))
        rollouts = rl_step.Rollouts(tokens, seg, pos, mask, old_logp, ref_logp, advantages,
                                    returns, old_values)
        mb_rows = N // config.rl.num_minibatches
        rng = np.random.default_rng([config.seed, step])
        step_metrics = []
        for _ in range(config.rl.num_iterations):
          perm = rng.permutation(N)
          for m in range(config.rl.num_minibatches):
            idx = np.sort(perm[m * mb_rows:(m + 1) * mb_rows]).astype(np.int32)
            state, mb_metrics = update_fn(state, take_fn(rollouts, idx), None)
            step_metrics.append(mb_metrics)
        upd = distributed.fetch(step_metrics)
        upd = {k: float(np.mean([m[k] for m in upd])) for k in upd[0]}

      m = {f"train/{k}" if k not in ("loss", "kl") else k: v for k, v in upd.items()}
      m.update({f"adv/{k}": float(v) for k, v in distributed.fetch(adv_metrics).items()})
      # Host-side metrics over every process's rollouts: one gather of all per-rollout columns
      # and one of the counters (both the identity with one process).
      acc_name = config.eval.accuracy_reward
      cols = {"total": graded.total, **{f"r/{k}": v for k, v in graded.per_reward.items()},
              "length": host["lengths"], "clipped": host["stop"] == STOP_LENGTH}
      rows = distributed.allgather_rows(np.stack([np.asarray(v, np.float64).reshape(-1)
                                                  for v in cols.values()], axis=1))
      col = dict(zip(cols, rows.T))
      counts = distributed.allgather_json({"failures": dict(graded.failures),
                                           "skipped": data.rl.num_skipped})
      m["reward/total"] = float(np.mean(col["total"]))
      for name in graded.per_reward:
        m[f"reward/{name}"] = float(np.mean(col[f"r/{name}"]))
      for name in graded.failures:
        m[f"reward_failures/{name}"] = float(sum(c["failures"][name] for c in counts))
      acc = col.get(f"r/{acc_name}", col["total"])
      m["accuracy"] = float(np.mean(acc >= 1.0 - 1e-6))
      lengths = col["length"]
      m["response/length_mean"] = float(np.mean(lengths))
      m["response/length_max"] = float(np.max(lengths))
      m["response/clipped_ratio"] = float(np.mean(col["clipped"]))
      m.update(timer.seconds("time/"))
      dt = time.perf_counter() - t_step
      m["time/step"] = dt
      m["throughput/tokens_per_sec"] = float(np.sum(lengths)) / max(dt, 1e-9)
      m["data/skipped_prompts"] = float(sum(c["skipped"] for c in counts))

      if not np.isfinite(m["loss"]) or not np.isfinite(m["train/grad_norm"]):
        ckpt.wait()
        raise FloatingPointError(
            f"non-finite loss ({m['loss']}) or grad norm at RL step {step + 1}; last good "
            f"checkpoint: step {ckpt.latest_step()} in {ckpt.directory}")
      if config.rl.ref_reset_every and (step + 1) % config.rl.ref_reset_every == 0:
        ref_params = jax.tree.map(jnp.copy, state.params)
      if (step + 1) % config.log_every == 0:
        writer.write(step + 1, m)
        progress.log(step + 1, m, dt)
      last = step + 1 == config.total_steps
      eval_metrics = None
      if (step + 1) % config.eval.every == 0 or last:
        eval_metrics = run_eval(step + 1)
      preempted = ckpt_lib.preemption_requested()  # A collective: once per step, every host.
      if (step + 1) % config.checkpoint.every == 0 or last or preempted:
        save(step + 1, eval_metrics)  # Without eval metrics: kept while among the latest.
      if preempted:
        _say(f"SIGTERM: saved RL step {step + 1}; exiting.", flush=True)
        break
  ckpt.wait()
  ckpt.close()
  writer.close()
  if not primary:
    return _summary(eval_history)
  return _summarize(workdir, eval_history)


def _warm_start(config, state, model_config, data, mesh, state_shard, writer):
  """SFT on reference traces before RL (the demo's warm start / a cold start)."""
  ws = config.warm_start
  opt = make_optimizer(ws.lr, "cosine", ws.warmup_steps, ws.sft_steps, grad_clip=1.0)
  sft_state, sft_shard = create_state(lambda r: state.params, opt, config.seed, mesh,
                                      jax.tree.map(lambda x: x.sharding, state.params)
                                      if mesh is not None else None)
  log = lambda i, m: (writer.write(-ws.sft_steps + i, m),
                      _say(f"sft {i}/{ws.sft_steps}: loss {m['sft/loss']:.4f} "
                            f"token_acc {m['sft/token_acc']:.3f}", flush=True))
  sft_state = sft_trainer.train_sft(sft_state, data.sft, ws.sft_steps, model_config, opt,
                                    mesh=mesh, state_shardings=sft_shard, log_every=50,
                                    log_fn=log)
  return state.replace(params=sft_state.params)


def _say(*args, **kwargs):
  """print on process 0 only (every process computes the same metrics)."""
  if distributed.is_primary():
    print(*args, **kwargs)


def _process_data_state(saved: dict) -> dict:
  """This process's pipeline position from a checkpoint written by any number of processes."""
  if "states" not in saved:
    raise ValueError("the checkpoint's data position predates per-process positions and the "
                     "current data order; resume it with the r1jax version that wrote it")
  states = pipeline_lib.reshard_states(saved["states"], jax.process_count())
  return states[jax.process_index()]


def _summary(eval_history: list[dict]) -> dict:
  return {"start": eval_history[0], "end": eval_history[-1]} if eval_history else {}


def _summarize(workdir: pathlib.Path, eval_history: list[dict]) -> dict:
  """Before/after table (markdown, printed and saved) and the reward/accuracy PNG."""
  if not eval_history:
    return {}
  first, last = eval_history[0], eval_history[-1]
  keys = [k for k in last if k.startswith("eval/") and k != "eval/num_problems"]
  lines = ["| metric | start of RL | end of RL | change |", "|---|---|---|---|"]
  for k in keys:
    a, b = first.get(k, float("nan")), last[k]
    lines.append(f"| {k} | {a:.4f} | {b:.4f} | {b - a:+.4f} |")
  table = "\n".join(lines)
  print(f"\nHeld-out evaluation (RL step {first['step']} -> {last['step']}):\n{table}\n",
        flush=True)
  (workdir / "summary.md").write_text(table + "\n")
  (workdir / "summary.json").write_text(json.dumps({"start": first, "end": last,
                                                    "history": eval_history}, indent=2))
  records = [r for r in metrics_lib.read_jsonl(workdir / metrics_lib.JSONL_NAME)
             if r.get("step", 0) >= 0]
  plots.plot_curves(records,
                    ["reward/total", "accuracy", "response/length_mean", "eval/pass@1"],
                    workdir / "curves.png", title="RL: reward and accuracy")
  return _summary(eval_history)
