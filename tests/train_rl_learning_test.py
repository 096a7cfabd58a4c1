"""Closed-loop learning: short RL runs must raise held-out pass@1, and fall when the advantage
sign is flipped (a test-only patch of the trainer's advantage step), one run per family.

The warm start (the demo's SFT on sloppy-teacher traces, which stops half its chains one step
early) is trained once per module and saved as an orbax model that every run starts from, so
each run costs only its RL steps. Measured on the 2-core CPU at 12 steps (256 held-out
problems, greedy pass@1 from 0.473): GRPO 0.660 (flipped 0.016), RLOO 0.668 (flipped 0.016);
the asserted margins (+0.03 learning, -0.05 flipped, at 8 steps) leave room for that.
"""
import importlib.util
import json

import jax
import pytest

from r1jax.models import orbax_io
from r1jax.train import rl_step, rl_trainer, sft_trainer
from r1jax.train import setup as setup_lib
from r1jax.train.state import create_state, make_optimizer

import rl_harness

STEPS = 8


def _demo_config():
  spec = importlib.util.spec_from_file_location(
      "arith_tiny", rl_harness.REPO / "experiments" / "configs" / "arith_tiny.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


@pytest.fixture(scope="module")
def warm_model(tmp_path_factory):
  """The demo's warm start (200 SFT steps), saved once as an orbax model directory."""
  c = _demo_config()
  tok = setup_lib.load_tokenizer(c)
  mesh, rules = setup_lib.build_mesh(c), setup_lib.build_rules(c)
  model_config, init_fn = setup_lib.build_model(c, tok, mesh, rules)
  ws = c.warm_start
  opt = make_optimizer(ws.lr, "cosine", ws.warmup_steps, ws.sft_steps, grad_clip=1.0)
  from r1jax import sharding  # pylint: disable=g-import-not-at-top
  state, shard = create_state(init_fn, opt, c.seed, mesh,
                              sharding.param_shardings(model_config, mesh, rules))
  data = setup_lib.build_data(c, tok)
  state = sft_trainer.train_sft(state, data.sft, ws.sft_steps, model_config, opt, mesh=mesh,
                                state_shardings=shard)
  d = tmp_path_factory.mktemp("warm") / "model"
  orbax_io.save_orbax(d, model_config, jax.device_get(state.params))
  return d


def _run(warm_model, workdir, algorithm, flip, monkeypatch):
  c = _demo_config()
  c.model.init_checkpoint = str(warm_model)
  c.warm_start.sft_steps = 0
  c.rl.algorithm = algorithm
  c.total_steps = STEPS
  c.eval.every = STEPS
  c.eval.num_problems = 256
  c.eval.batch_size = 128
  c.eval.k = 0
  c.checkpoint.every = STEPS
  if flip:
    original = rl_step.advantage_step

    def flipped(*args, **kwargs):
      adv, returns, mask, metrics = original(*args, **kwargs)
      return -adv, returns, mask, metrics
    monkeypatch.setattr(rl_step, "advantage_step", flipped)
  summary = rl_trainer.train_and_evaluate(c, str(workdir))
  monkeypatch.undo()
  return summary["start"]["eval/pass@1"], summary["end"]["eval/pass@1"]


@pytest.mark.learning
@pytest.mark.parametrize("algorithm", ["grpo", "rloo", "ppo"])
def test_rl_learns_and_a_flipped_sign_unlearns(algorithm, warm_model, tmp_path, monkeypatch):
  start, end = _run(warm_model, tmp_path / "normal", algorithm, False, monkeypatch)
  f_start, f_end = _run(warm_model, tmp_path / "flipped", algorithm, True, monkeypatch)
  print(json.dumps({"algorithm": algorithm, "start": start, "end": end, "flipped_end": f_end}))
  assert start == f_start  # The same warm start, evaluated the same way.
  assert end >= start + 0.03, (start, end)
  assert f_end <= start - 0.05, (start, f_end)
