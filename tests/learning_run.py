"""One closed-loop learning run of train_rl_learning_test, in a process of its own.

  python tests/learning_run.py warm DIR            # the demo's SFT warm start -> DIR (orbax)
  python tests/learning_run.py ALGORITHM WARM DIR  # RL from WARM, then the same run with the
                                                   # advantage sign flipped; prints one JSON
  python tests/learning_run.py all DIR ALGORITHM...  # the warm start, then each algorithm's
                                                     # pair from it; one JSON line each
The test runs `all` in one process: each process pays ~4 CPU-s of imports, and the runs share
their compiled samplers, evaluators and model init. It runs on one CPU device: with the suite's 8 virtual devices on 2 cores, XLA's
in-process all-reduces can starve each other of pool threads and deadlock (seen as "Expected 8
threads to join the rendezvous" aborts), and one device is faster for a model this small.
"""
import importlib.util
import json
import pathlib
import sys

import jax

from r1jax.models import orbax_io
from r1jax.train import rl_step, rl_trainer, sft_trainer
from r1jax.train import setup as setup_lib
from r1jax.train.state import create_state, optimizer_from_config
from r1jax.models import params as params_lib

REPO = pathlib.Path(__file__).resolve().parents[1]
# Held-out greedy pass@1 per step, from 0.488 (eval every step, the demo's warmup of 5 steps;
# measured with the warm start padded to 64 tokens, which started 0.02 higher than at 40):
# GRPO 0.52, 0.57, 0.65 at steps 2-4 (flipped 0.45, 0.26, 0.12); RLOO 0.52, 0.57, 0.64 (0.43,
# 0.26, 0.13); PPO 0.53, 0.57, 0.65 (0.45, 0.27, 0.16). Step 1 runs at warmup lr 0. Four steps
# leave 5x the asserted margins (train_rl_learning_test.py) at half the cost of eight.
STEPS = 4


# Full rematerialization (the backward recomputes each block's forward): on a 2-core CPU the
# warm start's SFT steps took 0.21 s instead of 0.29 s (fewer activations written to memory):
# 81 instead of 107 CPU-s for the warm start. The model function is the same: the start, end
# and flipped pass@1 of all three runs were identical to the last digit with and without it.
REMAT = "full"


def demo_config():
  """arith_tiny.py, the demo's config, with REMAT."""
  spec = importlib.util.spec_from_file_location(
      "arith_tiny", REPO / "experiments" / "configs" / "arith_tiny.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config()
  c.model.overrides.remat_policy = REMAT
  return c


# The demo's SFT traces are 26-38 tokens long, so its max_len of 64 makes every batch ~half
# padding. The warm start here pads to 40 instead: the same examples in the same order (checked:
# none is skipped), the same loss up to float32 summation order, at ~2/3 of the CPU time. Over
# 200 steps that order still shows: the held-out start is 0.469 here, 0.488 padded to 64.
WARM_MAX_LEN = 40


def warm(directory: pathlib.Path) -> None:
  """The demo's warm start (its 200 SFT steps), saved as an orbax model directory."""
  c = demo_config()
  c.warm_start.max_len = WARM_MAX_LEN
  tok = setup_lib.load_tokenizer(c)
  mesh, rules = setup_lib.build_mesh(c), setup_lib.build_rules(c)
  model_config, init_fn = setup_lib.build_model(c, tok, mesh, rules)
  ws = c.warm_start
  opt = optimizer_from_config(ws, ws.sft_steps)
  state, shard = create_state(init_fn, opt, c.seed, mesh,
                              params_lib.param_shardings(model_config, mesh, rules))
  data = setup_lib.build_data(c, tok)
  state = sft_trainer.train_sft(state, data.sft, ws.sft_steps, model_config, opt, mesh=mesh,
                                state_shardings=shard)
  if data.sft.num_skipped:  # A longer trace would be dropped: not the demo's warm start.
    raise ValueError(f"{data.sft.num_skipped} SFT traces exceed WARM_MAX_LEN={WARM_MAX_LEN}")
  orbax_io.save_orbax(directory, model_config, jax.device_get(state.params))


def run(warm_model: str, workdir: pathlib.Path, algorithm: str, flip: bool):
  """STEPS RL steps of `algorithm` from the warm model; (start, end) held-out greedy pass@1."""
  c = demo_config()
  c.model.init_checkpoint = warm_model
  c.warm_start.sft_steps = 0
  c.rl.algorithm = algorithm
  c.total_steps = STEPS
  c.eval.every = STEPS
  c.eval.num_problems = 256
  c.eval.batch_size = 128
  c.eval.k = 0
  c.checkpoint.every = STEPS
  original = rl_step.advantage_step
  if flip:  # The test-only hook: the trainer's advantages, negated.
    def flipped(*args, **kwargs):
      adv, returns, mask, metrics = original(*args, **kwargs)
      return -adv, returns, mask, metrics
    rl_step.advantage_step = flipped
  try:
    summary = rl_trainer.train_and_evaluate(c, str(workdir))
  finally:
    rl_step.advantage_step = original
  return summary["start"]["eval/pass@1"], summary["end"]["eval/pass@1"]


def pair(algorithm: str, warm_model: str, root: pathlib.Path) -> dict:
  """The normal and the flipped run of `algorithm` from the warm model."""
  start, end = run(warm_model, root / "normal", algorithm, False)
  f_start, f_end = run(warm_model, root / "flipped", algorithm, True)
  return {"algorithm": algorithm, "start": start, "end": end,
          "flipped_start": f_start, "flipped_end": f_end}


def main(argv):
  if argv[1] == "warm":
    warm(pathlib.Path(argv[2]).absolute())
  elif argv[1] == "all":
    root = pathlib.Path(argv[2]).absolute()
    warm(root / "warm")
    for algorithm in argv[3:]:
      print(json.dumps(pair(algorithm, str(root / "warm"), root / algorithm)), flush=True)
  else:
    print(json.dumps(pair(argv[1], argv[2], pathlib.Path(argv[3]))))


if __name__ == "__main__":
  main(sys.argv)
