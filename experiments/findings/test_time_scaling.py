"""Findings 2 and 3 (FINDINGS.md): majority voting against pass@1 as k grows, and s1 budget
forcing (thinking capped at each budget, or extended to it with the toy's "Wait"), on the
GRPO models of a sparse_vs_dense sweep: its reward-outcome point is the demo's run
(experiments/configs/arith_tiny.py) at seeds 0, 1 and 2, one model per seed.

  python experiments/sweep_main.py --sweep=experiments/sweeps/sparse_vs_dense.py \
      --workdir=/tmp/r1jax/svd                       # trains the three models (and the rest)
  python experiments/sweep_main.py \
      --sweep=experiments/findings/test_time_scaling.py:/tmp/r1jax/svd \
      --workdir=/tmp/r1jax/tts --parallel=2          # 2 budget modes x 3 models
  python -m r1jax.eval.scaling_report /tmp/r1jax/tts # tables with CIs over the models, plot

`smoke:<dir>` runs the same grid, tiny, on the models of a `sparse_vs_dense.py:smoke` sweep.

Each run is eval_main with experiments/configs/eval_arith_tiny.py on the model of the same
seed: 200 held-out problems, k up to 64 samples at temperature 0.7, greedy budget sweeps.
"""
from r1jax.sweep import toy
from r1jax.sweep.spec import Sweep, axis

KS = (1, 2, 4, 8, 16, 32, 64)


# `smoke:<dir>`: the same grid on a sparse_vs_dense smoke sweep's models, tiny.
SMOKE = {"test_time.ks": (1, 2), "test_time.num_problems": 8, "test_time.batch_size": 8,
         "test_time.budgets": (1, 7)}


def get_sweep(arg=None):
  smoke, models = toy.split_smoke(arg)
  if not models:
    raise ValueError("give the sparse_vs_dense sweep's workdir: "
                     "--sweep=experiments/findings/test_time_scaling.py:[smoke:]<dir>")
  ks = SMOKE["test_time.ks"] if smoke else KS
  mode = axis("budget", {"cap": {}, "force": {"test_time.budget_mode": "force"}})
  metrics = [("eval/arith/test/greedy/pass@1", "final")]
  for k in ks:
    metrics += [(f"eval/arith/test/sampled/maj@{k}", "final"),
                (f"eval/arith/test/sampled/pass@{k}", "final")]
  overrides = {"model.init_checkpoint": f"{models}/reward-outcome.seed-{{seed}}",
               "test_time.ks": KS, **(SMOKE if smoke else {})}
  return Sweep(main="eval", config="experiments/configs/eval_arith_tiny.py", axes=mode,
               overrides=overrides, seeds=(0, 1) if smoke else (0, 1, 2),
               baseline="budget-cap", metrics=tuple(metrics), curves=())
