"""Finding 1, task 2 (FINDINGS.md): does RL with rule rewards lift a warm start that did not
learn from a sloppy teacher? The demo's run (arith_tiny.py: 200 SFT warm-start steps, then 60
GRPO steps) with data.knobs.truncate_rate=0: every warm-start trace is a complete, correct
chain, so RL has no habit to repair, only the model's own arithmetic slips.

  python experiments/sweep_main.py --sweep=experiments/findings/clean_teacher.py \
      --workdir=/tmp/r1jax/clean --parallel=2        # the demo's settings and lr 3e-5, 4 seeds
  python experiments/sweep_main.py --sweep=experiments/findings/clean_teacher.py:grid \
      --workdir=/tmp/r1jax/clean_grid --parallel=2   # 8 settings, seed 0
  python -m r1jax.eval.compare /tmp/r1jax/clean \
      --metric=eval/pass@1:start --metric=eval/pass@1:gain \
      --metric=eval/sampled_pass@1:gain --metric=eval/pass@4:gain

`grid` asks why greedy pass@1 can fall under RL here (the issue's one-seed measurement: 0.820
-> 0.776) while sampled pass@1 rises: learning rate (3e-5, 1e-4), rollout temperature (0.7,
1.0; the trainer scores at the same temperature) and KL to the warm start (0, 0.04), each
pair of points sharing the seed's warm start and data order. Its point lr-1e-4_temp-1.0_kl-0
is the demo's setting. `smoke` and `smoke:grid` are the same grids, tiny.
"""
from r1jax.sweep import toy
from r1jax.sweep.spec import Sweep, axis, product

CLEAN = {"data.knobs.truncate_rate": 0.0}
CONFIRM_SEEDS = (0, 1, 2, 3)  # Seed 0 chose the setting; 1-3 test it.
METRICS = (("eval/pass@1", "gain"), ("eval/pass@1", "start"), ("eval/pass@1", "final"),
           ("eval/sampled_pass@1", "gain"), ("eval/pass@4", "gain"), ("eval/maj@4", "gain"),
           ("eval/length", "final"), ("wall_time_s", "final"))


def get_sweep(arg=None):
  smoke, variant = toy.split_smoke(arg)
  if variant not in ("", "grid"):
    raise ValueError(f"clean_teacher: unknown variant {arg!r}; use '', 'grid', 'smoke' or "
                     "'smoke:grid'")
  overrides, seeds = toy.variant("smoke" if smoke else None)
  overrides.update(CLEAN)
  if variant == "grid":
    points = product(
        axis("lr", {"3e-5": {"optim.lr": 3e-5}, "1e-4": {"optim.lr": 1e-4}}),
        axis("temp", {"0.7": {"sampler.temperature": 0.7}, "1.0": {"sampler.temperature": 1.0}}),
        axis("kl", {"0": {"rl.kl_coef": 0.0}, "0.04": {"rl.kl_coef": 0.04}}))
    return Sweep(main="grpo", config=toy.ARITH_TINY, overrides=overrides, axes=points,
                 seeds=seeds[:1], baseline="lr-1e-4_temp-1.0_kl-0", metrics=METRICS,
                 curves=("eval/pass@1", "eval/sampled_pass@1", "reward/total"))
  # `clean` is the demo's settings. `clean_lr3e-5` was added after six of the grid's eight
  # points had run at seed 0: the learning rate alone separated the points that gained from
  # those that lost (FINDINGS.md 1), and of the best points this is the smallest change to the
  # demo. Seeds 1-3 are fresh for it; its seed 0 repeats the grid's lr-3e-5_temp-1.0_kl-0.
  teacher = axis("teacher", {"clean": {}, "clean_lr3e-5": {"optim.lr": 3e-5}})
  return Sweep(main="grpo", config=toy.ARITH_TINY, overrides=overrides, axes=teacher,
               seeds=seeds if smoke else CONFIRM_SEEDS, baseline="teacher-clean",
               metrics=METRICS,
               curves=("eval/pass@1", "eval/sampled_pass@1", "reward/total"))
