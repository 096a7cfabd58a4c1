"""Shared settings of the committed sweeps over the toy task (experiments/configs/arith_tiny.py).

SMOKE shrinks a run to seconds (tiny model, 2 RL steps after 4 warm-start steps, 8 eval
problems) while keeping every phase of the run (warm start, rollouts, rewards, updates, evals,
checkpoints): the `smoke` variant of a sweep file is its grid with these overrides. Batches
are multiples of 8 so the smoke runs also fit the test suite's 8 forced host devices.
"""
ARITH_TINY = "experiments/configs/arith_tiny.py"
FULL_SEEDS = (0, 1, 2)
SMOKE_SEEDS = (0, 1)  # Two seeds: the smallest grid with a std and a CI.

SMOKE = {
    "total_steps": 2,
    "model.preset": "tiny",
    "warm_start.sft_steps": 4,
    "warm_start.batch_size": 8,
    "warm_start.warmup_steps": 1,
    "prompts_per_step": 8,
    "sampler.group_size": 4,
    "sampler.max_new_tokens": 16,
    "eval.every": 1,
    "eval.num_problems": 8,
    "eval.k": 4,
    "eval.k_problems": 8,
    "eval.batch_size": 8,
    "checkpoint.every": 1,
    "checkpoint.async_save": False,
}


# The RL runs' evaluation (arith_tiny.py keeps train/defaults.py's): greedy pass@1 on the first
# 500 held-out problems, maj@4 / pass@4 on 100 at temperature 1.0. Runs of other mains set it
# so their numbers compare with the RL runs' own.
RL_EVAL = {"eval.num_problems": 500, "eval.k": 4, "eval.k_problems": 100,
           "eval.temperature": 1.0, "eval.batch_size": 250}


def variant(arg):
  """(overrides, seeds) of a sweep file's variant: None (the full sweep) or 'smoke'."""
  if arg in (None, ""):
    return {}, FULL_SEEDS
  if arg == "smoke":
    return dict(SMOKE), SMOKE_SEEDS
  raise ValueError(f"unknown sweep variant {arg!r}; known: '' (full), 'smoke'")


def split_smoke(arg) -> tuple[bool, str]:
  """A findings file's argument: 'smoke', 'smoke:<rest>' or '<rest>' -> (smoke, rest)."""
  arg = arg or ""
  if arg == "smoke":
    return True, ""
  if arg.startswith("smoke:"):
    return True, arg[len("smoke:"):]
  return False, arg
