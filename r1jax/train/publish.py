"""An RL run's models in the format sft_main writes, for the next link of the R1 chain.

  <workdir>/model_config.json  the run's ModelConfig (written at start: lets `locate.load`
                               read any checkpoint step of the run as a model);
  <workdir>/model              the policy at the end of the run;
  <workdir>/model_best         the policy of the best evaluation by checkpoint.best_metric so far
                               (rewritten whenever a new best checkpoint is kept).

Both model folders are `orbax_io.save_orbax` directories, loadable by every recipe main
(model.init_checkpoint) and by `python -m r1jax.models.hf export`. A run started from a Hugging
Face folder also gets that folder's config.json and tokenizer files under <model>/hf/, so the
export is a servable folder. Folders are written beside and renamed into place: one that exists
is whole. Every process calls these functions (orbax saves are collective); process 0 alone
touches the file system otherwise.
"""
from __future__ import annotations

import json
import math
import pathlib
import shutil
from typing import Mapping, Sequence

import jax
from jax.experimental import multihost_utils

from r1jax import distributed
from r1jax.models import locate, orbax_io

MODEL, MODEL_BEST = "model", "model_best"


def _sync(name: str) -> None:
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def write_run_model_config(workdir, model_config) -> None:
  """<workdir>/model_config.json (process 0)."""
  if distributed.is_primary():
    path = pathlib.Path(workdir) / locate.RUN_MODEL_CONFIG
    path.write_text(json.dumps(orbax_io.config_to_dict(model_config), indent=2) + "\n")


def hf_side_folder(config) -> pathlib.Path | None:
  """Where a servable export's config.json and tokenizer files come from, if anywhere: the
  run's Hugging Face folder, the hf/ folder kept inside its init_checkpoint, or a tokenizer
  folder (config.tokenizer: its files only)."""
  if config.model.hf_checkpoint:
    return pathlib.Path(config.model.hf_checkpoint)
  if config.model.init_checkpoint:
    try:
      keep = locate.resolve(config.model.init_checkpoint).config_file.parent / "hf"
    except ValueError:
      keep = pathlib.Path(config.model.init_checkpoint) / "hf"
    if keep.is_dir():
      return keep
  if config.tokenizer and pathlib.Path(config.tokenizer).is_dir():
    return pathlib.Path(config.tokenizer)
  return None


def write_model(directory, model_config, params, hf_folder=None) -> pathlib.Path:
  """A save_orbax directory at `directory`, complete before it appears; returns its path."""
  from r1jax.models import hf  # pylint: disable=g-import-not-at-top
  directory = pathlib.Path(directory).absolute()
  tmp = directory.with_name(directory.name + ".partial")
  if distributed.is_primary() and tmp.exists():
    shutil.rmtree(tmp)  # Left by an interrupted save.
  _sync(f"publish-clean-{directory.name}")
  orbax_io.save_orbax(tmp, model_config, params)
  # Every process must be done writing into tmp before process 0 renames it away.
  _sync(f"publish-written-{directory.name}")
  if distributed.is_primary():
    if hf_folder is not None:
      keep = tmp / "hf"
      keep.mkdir(exist_ok=True)
      hf_folder = pathlib.Path(hf_folder)
      if (hf_folder / "config.json").is_file():
        shutil.copy(hf_folder / "config.json", keep / "config.json")
      for f in hf.side_files(hf_folder):
        shutil.copy(f, keep / f.name)
    if directory.exists():
      shutil.rmtree(directory)
    tmp.rename(directory)
  _sync(f"publish-done-{directory.name}")
  return directory


def is_new_best(step: int, metrics: Mapping | None, history: Sequence[Mapping],
                best_metric: str, mode: str = "max") -> bool:
  """Whether `metrics` (the evaluation of `step`) beat every earlier evaluation in `history`.

  Ties go to the later step, as orbax's BestN keeps the later of equal checkpoints; a NaN
  never ranks as best (as in `Checkpointer`).
  """
  if not best_metric or metrics is None or best_metric not in metrics:
    return False
  value = float(metrics[best_metric])
  if math.isnan(value):
    return False
  earlier = [float(h[best_metric]) for h in history
             if h.get("step") != step and best_metric in h]
  earlier = [v for v in earlier if not math.isnan(v)]
  if not earlier:
    return True
  return value >= max(earlier) if mode == "max" else value <= min(earlier)


def on_checkpoint(workdir, config, model_config, params, step: int, metrics: Mapping | None,
                  history: Sequence[Mapping]) -> list[str]:
  """Called by the RL trainer after each checkpoint save: model_best when this step is the
  new best, model at the last step. Returns the folder names written."""
  workdir = pathlib.Path(workdir)
  side = hf_side_folder(config)
  written = []
  if is_new_best(step, metrics, history, config.checkpoint.best_metric):
    write_model(workdir / MODEL_BEST, model_config, params, side)
    written.append(MODEL_BEST)
  if step == config.total_steps:
    write_model(workdir / MODEL, model_config, params, side)
    written.append(MODEL)
  return written
