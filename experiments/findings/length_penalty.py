"""Finding 7 (FINDINGS.md): a length penalty cuts response tokens without losing accuracy (the
overthinking paper, Chen et al. 2024), on a toy whose teacher overthinks.

  python experiments/sweep_main.py --sweep=experiments/findings/length_penalty.py \
      --workdir=/tmp/r1jax/length                    # 2 points x 3 seeds
  python experiments/sweep_main.py --sweep=experiments/findings/length_penalty.py:smoke \
      --workdir=/tmp/r1jax/length_smoke

The demo's run (arith_tiny.py: SFT warm start, then 60 GRPO steps) with one change to the
task (experiments/configs/arith_length.py): half of the warm-start traces check their last
step again, writing that line twice before </think> (data.knobs.recheck_rate=0.5). The line is redundant: the answer is known
before it, so a model that drops it loses nothing. Points:
  none:   R1's rule rewards (accuracy 1.0 + format 0.1), as in the demo;
  cosine: the same plus the cosine length reward (Yeo et al. 2025; r1jax/rewards/length.py,
          its default values, weight 1.0, length in tokens up to the 48-token budget): a
          correct answer earns more the shorter it is, a wrong one less, so stopping a chain
          early (the sloppy teacher's habit) is not made cheaper.
  cosine_correct: the same with a flat -1 for every wrong answer, so only correct answers
          are paid by length (added after the first six runs showed why `cosine` lengthens
          responses here: at a sampled accuracy under one half, its "wrong answers: longer is
          better" side outweighs its "correct answers: shorter is better" side).
The weight and values were fixed before the first run and not tuned.
"""
from r1jax.sweep import toy
from r1jax.sweep.spec import Sweep, axis


def get_sweep(arg=None):
  overrides, seeds = toy.variant(arg)
  penalty = axis("penalty", {
      "none": {},
      "cosine": {"rewards.cosine_length": 1.0},
      # Added after the first six runs (FINDINGS.md 7): wrong answers get a flat -1, so only
      # correct answers are paid by length: a pure length penalty on correct answers.
      "cosine_correct": {"rewards.cosine_length": 1.0,
                         "reward_params.cosine_length.max_value_wrong": -1.0},
  })
  return Sweep(main="grpo", config="experiments/configs/arith_length.py", overrides=overrides, axes=penalty,
               seeds=seeds, baseline="penalty-none",
               metrics=(("eval/pass@1", "final"), ("eval/length", "final"),
                        ("eval/maj@4", "final"), ("eval/pass@1", "best"),
                        ("wall_time_s", "final")),
               curves=("eval/pass@1", "eval/length", "response/length_mean",
                       "reward/total"))
