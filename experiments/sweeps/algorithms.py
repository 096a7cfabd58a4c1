"""GRPO, Dr. GRPO, DAPO, GSPO, RLOO, REINFORCE++ and PPO on the toy task at matched rollouts.

  python experiments/sweep_main.py --sweep=experiments/sweeps/algorithms.py \
      --workdir=/tmp/r1jax/algorithms                 # 7 points x 3 seeds
  python experiments/sweep_main.py --sweep=experiments/sweeps/algorithms.py:smoke \
      --workdir=/tmp/r1jax/algorithms_smoke

Every point samples the same rollouts per step (prompts_per_step x group_size of the base
config: 16 x 8 = 128) and takes one optimizer step per RL step; DAPO's dynamic sampling draws
one batch per round (rl.dynamic_oversample = 1) so it does not get more rollouts than the rest.
Each algorithm keeps its own defaults (clip ranges, loss aggregation, KL placement).
"""
from r1jax.sweep import toy
from r1jax.sweep.spec import Sweep, axis

ALGORITHMS = ("grpo", "dr_grpo", "dapo", "gspo", "rloo", "reinforce_pp", "ppo")


def get_sweep(arg=None):
  overrides, seeds = toy.variant(arg)
  overrides.update({"rl.dynamic_oversample": 1, "rl.num_minibatches": 1,
                    "rl.num_iterations": 1})
  algo = axis("algo", {a: {"rl.algorithm": a} for a in ALGORITHMS})
  return Sweep(main="grpo", config=toy.ARITH_TINY, overrides=overrides, axes=algo, seeds=seeds,
               baseline="algo-grpo")
