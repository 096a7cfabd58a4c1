"""The trainer's own objects for one config, for tests that drive its jitted steps directly.

Built with the same functions `rl_trainer.train_and_evaluate` calls (setup.*, create_state,
rl_phases.build_step_fns), so a test of these pieces is a test of the path a run takes.
"""
import importlib.util
import json
import pathlib
from typing import Any, NamedTuple

import jax

from r1jax import sharding
from r1jax.rl.algorithms import get_algorithm
from r1jax.sampling.sampler import Sampler
from r1jax.train import rl_phases, rl_step
from r1jax.train import setup as setup_lib
from r1jax.train.state import create_state
from r1jax.models import params as params_lib

REPO = pathlib.Path(__file__).resolve().parents[1]


def tiny_config(**overrides):
  """tests/configs/tiny_resume.py (8 prompts x 4 samples, 16 new tokens) at 2 steps."""
  spec = importlib.util.spec_from_file_location("tiny_resume",
                                                REPO / "tests" / "configs" / "tiny_resume.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config()
  c.total_steps = 2
  c.rl.num_minibatches = 1
  c.optim.schedule = "constant"
  c.eval.every = 100
  for k, v in overrides.items():
    node = c
    *path, last = k.split(".")
    for p in path:
      node = getattr(node, p)
    setattr(node, last, v)
  return c


class Harness(NamedTuple):
  config: Any
  algo: Any
  tok: Any
  model_config: Any
  mesh: Any
  rules: Any
  state: Any
  fns: rl_phases.StepFns
  sampler: Sampler

  def ctx(self):
    return sharding.activation_sharding(self.mesh, self.rules)


def build(config) -> Harness:
  setup_lib.validate_config(config)
  algo = get_algorithm(config.rl.algorithm)
  tok = setup_lib.load_tokenizer(config)
  mesh, rules = setup_lib.build_mesh(config), setup_lib.build_rules(config)
  model_config, init_fn = setup_lib.build_model(config, tok, mesh, rules)
  optimizer, value_optimizer = rl_phases.optimizers(config, algo)
  settings = rl_phases.rl_settings(config, algo)
  state, state_shard = create_state(
      init_fn, optimizer, config.seed, mesh, params_lib.param_shardings(model_config, mesh, rules),
      init_value_fn=rl_step.value_init(model_config, settings.critic) if algo.critic else None,
      value_optimizer=value_optimizer)
  fns = rl_phases.build_step_fns(config, algo, model_config, optimizer, value_optimizer, mesh,
                                 state_shard)
  stop = setup_lib.stop_tokens(config, tok)
  sampler = Sampler(model_config, setup_lib.sampler_config(config, tok, stop, model_config),
                    mesh, rules)
  return Harness(config, algo, tok, model_config, mesh, rules, state, fns, sampler)


def host(tree):
  return jax.tree.map(lambda x: jax.device_get(x), tree)


def train_rows(workdir) -> list[dict]:
  """The RL steps' metric rows of a run (not evals, not the warm start)."""
  rows = [json.loads(l) for l in (pathlib.Path(workdir) / "metrics.jsonl").read_text().splitlines()]
  return [r for r in rows if "loss" in r and r["step"] > 0]


def checkpoint_state(workdir, step) -> dict:
  """The saved TrainState of a checkpoint step, as host arrays."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  path = (pathlib.Path(workdir) / "checkpoints" / str(step) / "state").resolve()
  return ocp.StandardCheckpointer().restore(path)["state"]
