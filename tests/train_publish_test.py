"""grpo_main writes <workdir>/model and model_best, which the recipe mains and hf export load."""
import json
import pathlib

import jax
import numpy as np
import pytest

import rl_harness

from r1jax.models import hf, locate, orbax_io
from r1jax.train import publish, rl_trainer

REPO = pathlib.Path(__file__).resolve().parents[1]


def _tiny_config():
  return rl_harness.tiny_config(**{"eval.every": 1})


def _leaves(tree):
  return [np.asarray(x) for x in jax.tree.leaves(tree)]


@pytest.fixture(scope="module")
def rl_workdir(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("rl")
  rl_trainer.train_and_evaluate(_tiny_config(), str(workdir))
  return workdir


def test_rl_run_writes_model_and_model_best(rl_workdir):
  summary = json.loads((rl_workdir / "summary.json").read_text())
  history = summary["history"]
  _, final = orbax_io.load_orbax(rl_workdir / "model")
  saved = locate.load(rl_workdir / "checkpoints" / "2")[1]  # The step-2 training checkpoint.
  assert all(np.array_equal(a, b) for a, b in zip(_leaves(final), _leaves(saved)))
  # model_best is the checkpoint of the best pass@1 (the later one on ties).
  scores = [h["eval/pass@1"] for h in history]
  best_step = max(range(len(scores)), key=lambda i: (scores[i], i))
  best_step = history[best_step]["step"]
  _, best = orbax_io.load_orbax(rl_workdir / "model_best")
  at_best = locate.load(rl_workdir / "checkpoints" / str(best_step))[1]
  assert all(np.array_equal(a, b) for a, b in zip(_leaves(best), _leaves(at_best)))
  assert not list(rl_workdir.glob("*.partial"))


def test_locate_accepts_workdir_step_and_model(rl_workdir):
  assert locate.resolve(rl_workdir).path == rl_workdir / "model"
  assert locate.resolve(rl_workdir / "model_best").kind == "model"
  assert locate.resolve(rl_workdir / "checkpoints" / "0").kind == "checkpoint"
  with pytest.raises(ValueError, match="not a model directory"):
    locate.resolve(rl_workdir / "checkpoints")


def test_hf_export_of_rl_workdir_and_step(rl_workdir, tmp_path):
  hf.export(rl_workdir, tmp_path / "from_workdir")
  hf.export(rl_workdir / "checkpoints" / "2", tmp_path / "from_step")
  cfg_a, p_a = hf.load_checkpoint(tmp_path / "from_workdir")
  cfg_b, p_b = hf.load_checkpoint(tmp_path / "from_step")
  _, final = orbax_io.load_orbax(rl_workdir / "model")
  assert cfg_a == cfg_b
  for a, b, c in zip(_leaves(p_a), _leaves(p_b), _leaves(final)):
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_is_new_best_ties_and_nan():
  hist = [{"step": 0, "m": 0.5}, {"step": 1, "m": float("nan")}]
  assert publish.is_new_best(2, {"m": 0.5}, hist, "m")  # Tie: the later step.
  assert not publish.is_new_best(2, {"m": 0.4}, hist, "m")
  assert not publish.is_new_best(2, {"m": float("nan")}, hist, "m")
  assert not publish.is_new_best(2, None, hist, "m")
  assert not publish.is_new_best(2, {"m": 1.0}, hist, "")
  assert publish.is_new_best(2, {"m": 0.4}, hist, "m", mode="min")
