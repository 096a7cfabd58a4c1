"""The one RL loop: prompts -> n rollouts -> rewards -> advantages -> minibatch updates.

Every algorithm (GRPO, Dr. GRPO, DAPO, GSPO, RLOO, REINFORCE++, PPO) runs through this loop;
they differ only by registry entries (r1jax/rl/algorithms.py) and config. Array work happens
in jitted pure functions from rl_step.py; text exists only on the host (decode + grading).
"""
from __future__ import annotations

import contextlib
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from r1jax import distributed, sharding
from r1jax.data import pipeline as pipeline_lib
from r1jax.eval import plots, samples_log
from r1jax.eval.evaluate import Evaluator
from r1jax.rl.algorithms import get_algorithm
from r1jax.sampling.sampler import Sampler
from r1jax.train import checkpoint as ckpt_lib
from r1jax.train import metrics as metrics_lib
from r1jax.train import publish
from r1jax.train import resume as resume_lib
from r1jax.train import rl_phases
from r1jax.train import rl_step
from r1jax.train import setup as setup_lib
from r1jax.train import sft_trainer
from r1jax.train import workdir_lock
from r1jax.train.state import create_state, optimizer_from_config
from r1jax.models import params as params_lib


# Kept importable from here (benchmarks and tests built configs through it).
loss_config = rl_phases.loss_config


def train_and_evaluate(config, workdir: str) -> dict:
  """Runs (optional SFT warm start then) RL per `config`; returns the final eval metrics.

  Every process of a multi-process run calls this with the same config and workdir (a local
  path on a file system all of them share); process 0 alone writes logs, summaries and plots,
  and holds the workdir lock (r1jax/train/workdir_lock.py) for the whole run. Raises
  exit_status.Preempted when SIGTERM stopped it before the last step (after saving).
  """
  setup_lib.validate_config(config)  # Bad configs fail here, before any compute.
  resume_lib.validate_config(config)
  distributed.initialize(config.get("distributed"))  # Before anything touches a device.
  with workdir_lock.hold(workdir, distributed.is_primary(), log=_say):
    return _train_and_evaluate(config, workdir)


def _train_and_evaluate(config, workdir: str) -> dict:
  """train_and_evaluate inside the workdir lock."""
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

  G, T = config.sampler.group_size, config.sampler.max_new_tokens
  optimizer, value_optimizer = rl_phases.optimizers(config, algo)
  p_shard = params_lib.param_shardings(model_config, mesh, rules)
  settings = rl_phases.rl_settings(config, algo)
  state, state_shard = create_state(
      init_params_fn, optimizer, config.seed, mesh, p_shard,
      init_value_fn=rl_step.value_init(model_config, settings.critic) if algo.critic else None,
      value_optimizer=value_optimizer)

  data = setup_lib.build_data(config, tok)
  stop = setup_lib.stop_tokens(config, tok)
  sampler = Sampler(model_config, setup_lib.sampler_config(config, tok, stop, model_config),
                    mesh, rules)
  evaluator = Evaluator.from_config(config, model_config, tok, data.eval_examples, mesh, stop,
                                    prompt_len=config.data.max_prompt_len, rules=rules)
  specs = setup_lib.reward_specs(config)
  writer = metrics_lib.MetricsWriter(workdir, jax.process_index())
  ckpt = ckpt_lib.Checkpointer(workdir / "checkpoints", keep=config.checkpoint.keep,
                               async_save=config.checkpoint.async_save,
                               best_metric=config.checkpoint.best_metric or None)
  ckpt_lib.install_sigterm_handler()
  resume_lib.prepare(config, ckpt)  # Every step records the data fingerprint.

  # Resume (from the newest step that restores), or warm-start (SFT) and take the reference
  # snapshot.
  start_step, eval_history = 0, []
  saved = {"state": state, "ref_params": state.params}
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                          saved)
  restored = resume_lib.restore(
      config, ckpt, writer, abstract, log=_say,
      check=lambda _, extra: (int(extra["rl_step"]),
                              data.rl.restore(_process_data_state(extra["data"]))))
  if restored is not None:
    saved, extra = restored
    state, ref_params = saved["state"], saved["ref_params"]
    start_step = int(extra["rl_step"])
    eval_history = extra.get("eval_history", [])
    _say(f"Resumed from {ckpt.directory} at RL step {start_step}", flush=True)
  else:
    if config.warm_start.sft_steps > 0:
      state = _warm_start(config, state, model_config, data, mesh, state_shard, writer)
    ref_params = jax.tree.map(jnp.copy, state.params)

  # Jitted pieces, compiled once. Shardings follow the inputs (sampler outputs are row-sharded).
  fns = rl_phases.build_step_fns(config, algo, model_config, optimizer, value_optimizer, mesh,
                                 state_shard)
  ctx = lambda: sharding.activation_sharding(mesh, rules)  # A fresh context per use.
  # Host <-> device: each process holds its own rows; global arrays are built from them.
  rows1, rows2 = (sharding.batch_sharding(mesh, nd) for nd in (1, 2))

  def run_eval(step):
    with ctx():
      res = evaluator.evaluate(state.params)
    eval_history.append({"step": step, **res.metrics})
    writer.write(step, res.metrics)
    samples_log.write(workdir, step, res.samples, jax.process_index())  # TensorBoard text
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
      max(config.total_steps, 1),
      keys=("reward/total", "accuracy", "loss", "kl", "response/length_mean"),
      process_index=jax.process_index())
  pool = contextlib.nullcontext()
  if config.reward_workers > 0:
    from r1jax.rewards.pool import RewardPool  # pylint: disable=g-import-not-at-top
    pool = RewardPool(config.reward_workers)
  with pool as reward_pool:
    for step in range(start_step, config.total_steps):
      t_step = time.perf_counter()
      timer = metrics_lib.Timer()
      info = None
      with timer("sampling"), ctx():
        if algo.dynamic_sampling:
          # Rounds of sampling and grading until the batch holds enough groups with signal.
          roll, graded, info = rl_phases.dynamic_rollout(
              sampler, state.params, data, tok, specs, reward_pool, config, step, rows1, rows2)
        else:
          with timer("data"):
            batch = data.rl.next()
          roll = rl_phases.rollout(sampler, state.params, batch, config.seed, step, G, rows2,
                                   tok)
      with ctx():
        # Dispatched before grading: the old/reference log-prob passes do not need rewards,
        # so with async dispatch the accelerator computes them while the host grades.
        mask = rl_phases.loss_mask(roll, config)
        scored = rl_phases.score(fns, settings, state, ref_params, roll)
      with timer("rewards"):
        if info is None:
          graded = rl_phases.grade(tok, roll, specs, reward_pool, config.reward_timeout_s,
                                   sampler.cfg.stop_strings)
        step_rewards = step_mask = np.zeros(roll.host["tokens"].shape, np.float32)
        if settings.advantage == "process":
          step_rewards, step_mask = rl_phases.place_step_rewards(
              tok, roll.host["tokens"], roll.host["lengths"], graded.steps, T)
      with timer("update"), ctx():
        keep = None if info is None else distributed.global_rows(info.keep_local, rows1)
        advantages, returns, mask, adv_metrics = fns.advantages(
            distributed.global_rows(graded.total.astype(np.float32), rows1), mask,
            scored.old_logp_NxT, scored.ref_logp_NxT, scored.old_values_NxT,
            distributed.global_rows(step_rewards, rows2),
            distributed.global_rows(step_mask, rows2), keep)
        rollouts = scored.rollouts(mask, advantages, returns)
        critic_only = algo.critic and step < config.rl.critic_warmup_steps
        state, upd, skipped = rl_phases.update(
            fns, state, rollouts, config, step,
            keep_N=None if info is None else info.keep_N, critic_only=critic_only)

      metric_src = graded if info is None else info.sampled
      m = rl_phases.rl_step_metrics(
          upd, adv_metrics, metric_src,
          roll.host["lengths"] if info is None else info.sampled_lengths,
          roll.host["stop"] if info is None else info.sampled_stop,
          int(np.sum(roll.host["forced"])), config.eval.accuracy_reward,
          data.rl.num_skipped, skipped)
      if info is not None:
        m.update(info.metrics)
      m.update(timer.seconds("time/"))
      dt = time.perf_counter() - t_step
      m["time/step"] = dt
      m["throughput/tokens_per_sec"] = float(np.sum(roll.host["lengths"])) / max(dt, 1e-9)

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
  saved_step = ckpt.latest_step()
  ckpt.close()
  writer.close()
  result = _summarize(workdir, eval_history) if primary else _summary(eval_history)
  resume_lib.finish(config, saved_step, ckpt.directory)  # Preempted: raises (exit status 75).
  return result


def _warm_start(config, state, model_config, data, mesh, state_shard, writer):
  """SFT on reference traces before RL (the demo's warm start / a cold start)."""
  ws = config.warm_start
  opt = optimizer_from_config(ws, ws.sft_steps)
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
  keys = ["reward/total", "accuracy", "response/length_mean", "eval/pass@1"]
  # A run of 0 RL steps (the warm start alone) has only its evaluation to plot.
  keys = [k for k in keys if any(k in r for r in records)]
  plots.plot_curves(records, keys, workdir / "curves.png", title="RL: reward and accuracy")
  return _summary(eval_history)
