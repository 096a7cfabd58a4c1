"""Supervised fine-tuning runs: cold start, distillation, expert-iteration rounds; resumable.

`finetune` trains from given params on a source (synthetic traces, a distillation JSONL, a
rejection-sampling dataset) with `train_sft`, saving the state and the data position every
`checkpoint_every` steps so a rerun continues exactly. `save_model` publishes a model-only
orbax directory atomically (written beside, then renamed), so a directory that exists is
whole. `run` is the sft_main command.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil
from typing import Any, Callable

import jax
import jax.numpy as jnp

from r1jax import sharding
from r1jax.data import pipeline as pipeline_lib
from r1jax.data import sources
from r1jax.eval.evaluate import Evaluator
from r1jax.models import orbax_io
from r1jax.recipe import runtime, shards
from r1jax.train import checkpoint as ckpt_lib
from r1jax.train import data_fingerprint
from r1jax.train import setup as setup_lib
from r1jax.train import sft_trainer
from r1jax.train.state import create_state, optimizer_from_config
from r1jax.models import params as params_lib


@dataclasses.dataclass(frozen=True)
class SFTConfig:
  """The sft section. No defaults here: they live in recipe/defaults.py, which documents each
  field; build one with `from_config`."""
  steps: int
  batch_size: int
  max_len: int  # Prompt + completion + eos tokens; longer examples are skipped and counted.
  lr: float
  schedule: str
  warmup_steps: int
  weight_decay: float
  grad_clip: float
  pack: bool
  checkpoint_every: int  # Steps between resumable saves; 0 saves nothing midway.
  log_every: int
  seed: int

  @classmethod
  def from_config(cls, c, **overrides) -> "SFTConfig":
    """From a config's sft section (or any section with these fields), then `overrides`."""
    return cls(**{f.name: overrides.get(f.name, getattr(c, f.name, None))
                  for f in dataclasses.fields(cls)})


def _initial_state(params, optimizer, mesh, model_config, rules, seed: int):
  """`create_state` around a COPY of `params` (the SFT step donates its state, and expert
  iteration restarts every round from the same initial params)."""
  p_shard = params_lib.param_shardings(model_config, mesh, rules) if mesh is not None else None
  return create_state(lambda _: jax.tree.map(jnp.copy, params), optimizer, seed, mesh, p_shard)


def finetune(params, model_config, source, tokenizer, cfg: SFTConfig, *, mesh=None,
             rules=sharding.DEFAULT_RULES, workdir=None,
             log: Callable[[str], Any] = print, fingerprint: dict | None = None,
             on_data_change: str = "warn"):
  """SFT from `params` for cfg.steps steps; returns the new params (`params` is untouched).

  With `workdir` and cfg.checkpoint_every > 0, resumes from workdir/checkpoints; checkpoints
  record `fingerprint` (data_fingerprint.compute) and a resume on other data follows
  `on_data_change`.
  """
  if cfg.steps < 1:
    raise ValueError(f"sft.steps must be >= 1, got {cfg.steps}")
  pipe = pipeline_lib.SFTPipeline(source, cfg.batch_size, tokenizer, cfg.max_len, cfg.seed,
                                  pack=cfg.pack)
  optimizer = optimizer_from_config(cfg, cfg.steps)
  state, shardings = _initial_state(params, optimizer, mesh, model_config, rules, cfg.seed)
  ckpt, start = None, 0
  if workdir is not None and cfg.checkpoint_every > 0:
    # Two kept steps: a step that rots on disk falls back to the one before it.
    ckpt = ckpt_lib.Checkpointer(pathlib.Path(workdir) / "checkpoints", keep=2,
                                 async_save=False)
    if fingerprint is not None:
      ckpt.extra_defaults["data_fingerprint"] = fingerprint
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
    # The newest step that restores; unrestorable ones are reported and set aside.
    found = ckpt.restore_latest_good(
        abstract_state=abstract, log=log,
        check=lambda _, extra: (int(extra["sft_step"]), pipe.restore(extra["data"])))
    if found is not None:
      found_step, state, extra = found
      if fingerprint is not None:
        data_fingerprint.check(extra.get("data_fingerprint"), fingerprint, on_data_change,
                               ckpt.step_path(found_step), log)
      start = int(extra["sft_step"])
      log(f"sft: resumed at step {start} from {ckpt.directory}")

  chunk = cfg.checkpoint_every if ckpt is not None else cfg.steps
  # One jitted step for every chunk: a new jit per chunk compiled it again at each checkpoint.
  step_fn = sft_trainer.make_sft_step(model_config, optimizer, mesh, shardings,
                                      single_segment=not cfg.pack)
  step = start
  while step < cfg.steps:
    n = min(chunk, cfg.steps - step)
    log_fn = lambda i, m, done=step: log(f"sft {done + i}/{cfg.steps}: loss "
                                         f"{m['sft/loss']:.4f} token_acc "
                                         f"{m['sft/token_acc']:.3f}")
    state = sft_trainer.train_sft(state, pipe, n, model_config, optimizer, mesh=mesh,
                                  state_shardings=shardings, log_every=cfg.log_every,
                                  log_fn=log_fn, step_fn=step_fn)
    step += n
    if ckpt is not None and step < cfg.steps:
      ckpt.save(step, state, {"sft_step": step, "data": pipe.state()})
  if pipe.num_skipped:
    log(f"sft: skipped {pipe.num_skipped} examples longer than {cfg.max_len} tokens")
  if ckpt is not None:
    ckpt.close()
  return state.params


def save_model(directory, model_config, params) -> pathlib.Path:
  """Writes a model-only orbax directory atomically: it exists only once complete."""
  directory = pathlib.Path(directory).absolute()
  tmp = directory.with_name(directory.name + ".partial")
  if tmp.exists():
    shutil.rmtree(tmp)  # Left by an interrupted save.
  orbax_io.save_orbax(tmp, model_config, params)
  if directory.exists():
    shutil.rmtree(directory)
  tmp.rename(directory)
  return directory


def train_source(config):
  """sft.train_file (a distillation JSONL) if set, else data.source's train split."""
  path = config.sft.train_file
  if not path:
    return runtime.source(config, config.data.train_split)
  path = pathlib.Path(path)
  if (path.parent / shards.MANIFEST_FILE).is_file() and not shards.is_complete(path.parent):
    raise shards.IncompleteDatasetError(
        f"config.sft.train_file: {path.parent} holds an unfinished dataset (no "
        f"{shards.COMPLETE_FILE}); rerun the command that builds it")
  return sources.ExampleList(f"distill/{path.stem}",
                             sources.read_distillation(path, config.data.template))


def evaluate(config, rt: runtime.Runtime, params, examples=None) -> dict:
  """Greedy pass@1 (and pass@k / maj@k with eval.k) on `examples`, by default the first
  eval.num_problems held-out examples (`runtime.eval_examples`)."""
  if examples is None:
    examples = runtime.eval_examples(config, config.eval.num_problems)
  ev = Evaluator.from_config(config, rt.model_config, rt.tokenizer, examples, rt.mesh,
                             setup_lib.stop_tokens(config, rt.tokenizer), rules=rt.rules)
  with sharding.activation_sharding(rt.mesh, rt.rules):
    return ev.evaluate(params).metrics


def run(config, workdir, log: Callable[[str], Any] = print) -> dict:
  """The sft_main command: SFT per config.sft on `train_source`, the model to workdir/model,
  then greedy pass@1 on the held-out examples (eval.num_problems; 0 skips it)."""
  setup_lib.validate_common(config)  # Before any compute or any write.
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  train = train_source(config)  # Fails on an unfinished dataset before any compute.
  cfg = SFTConfig.from_config(config.sft)
  rt = runtime.load(config, require_checkpoint=False)
  runtime.check_batch("sft.batch_size", cfg.batch_size, rt.mesh)
  if config.eval.num_problems > 0:
    runtime.check_batch("eval.batch_size", config.eval.batch_size, rt.mesh)
  (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))
  model_dir = workdir / "model"
  if model_dir.is_dir():
    log(f"{model_dir} exists: training already finished")
    _, params = orbax_io.load_orbax(model_dir, rt.mesh, rt.rules)
  else:
    params = finetune(rt.params, rt.model_config, train, rt.tokenizer, cfg, mesh=rt.mesh,
                      rules=rt.rules, workdir=workdir, log=log,
                      fingerprint=data_fingerprint.compute(config),
                      on_data_change=config.checkpoint.get("on_data_change", "warn"))
    save_model(model_dir, rt.model_config, params)
    log(f"model saved to {model_dir}")
  result = {"model": str(model_dir), "start": rt.checkpoint}
  if config.eval.num_problems > 0:
    result["eval"] = evaluate(config, rt, params)
    log("eval: " + ", ".join(f"{k} {v:.4f}" for k, v in result["eval"].items()))
  shards.write_atomic(workdir / "result.json", json.dumps(result, indent=2, sort_keys=True))
  return result
