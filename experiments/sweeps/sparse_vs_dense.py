"""Sparse outcome reward vs dense step rewards (process advantages), GRPO on the toy task.

  python experiments/sweep_main.py --sweep=experiments/sweeps/sparse_vs_dense.py \
      --workdir=/tmp/r1jax/sparse_vs_dense            # 3 points x 3 seeds
  python experiments/sweep_main.py --sweep=experiments/sweeps/sparse_vs_dense.py:smoke \
      --workdir=/tmp/r1jax/svd_smoke                  # the same grid, seconds per run

outcome: R1's accuracy + format rewards, one advantage per completion. process_steps: each
arithmetic step checked on its own (r1jax/rewards/process.py, self_checked) and the 'process'
estimator (step rewards as per-token advantages, plus the normalised outcome).
process_reference: a step earns its reward when it reproduces an intermediate result of the
reference solution (Havrilla et al. 2024).
"""
from r1jax.sweep import toy
from r1jax.sweep.spec import Sweep, axis


def get_sweep(arg=None):
  overrides, seeds = toy.variant(arg)
  reward = axis("reward", {
      "outcome": {},
      "process_steps": {"rl.advantage": "process", "rewards.process_steps": 0.5},
      "process_reference": {"rl.advantage": "process", "rewards.process_reference": 0.5},
  })
  return Sweep(main="grpo", config=toy.ARITH_TINY, overrides=overrides, axes=reward,
               seeds=seeds, baseline="reward-outcome")
