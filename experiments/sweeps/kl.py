"""KL to the reference off / on: GRPO with beta 0, 0.01 and 0.04 (k3 in the loss) on the toy.

  python experiments/sweep_main.py --sweep=experiments/sweeps/kl.py --workdir=/tmp/r1jax/kl
  python experiments/sweep_main.py --sweep=experiments/sweeps/kl.py:smoke --workdir=/tmp/kl
"""
from r1jax.sweep import toy
from r1jax.sweep.spec import Sweep, axis


def get_sweep(arg=None):
  overrides, seeds = toy.variant(arg)
  beta = axis("beta", {"0": {"rl.kl_coef": 0.0}, "0.01": {"rl.kl_coef": 0.01},
                       "0.04": {"rl.kl_coef": 0.04}})
  return Sweep(main="grpo", config=toy.ARITH_TINY, overrides=overrides, axes=beta, seeds=seeds,
               baseline="beta-0", curves=("eval/pass@1", "reward/total", "kl"))
