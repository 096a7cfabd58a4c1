"""Finding 5 (FINDINGS.md): expert iteration against PPO and GRPO at matched sample counts, from
the same starting model (Havrilla et al. 2024).

  python experiments/sweep_main.py --sweep=experiments/findings/expert_iteration.py \
      --workdir=/tmp/r1jax/ei_start                  # the demo's warm start, one per seed
  python experiments/sweep_main.py \
      --sweep=experiments/findings/expert_iteration.py:/tmp/r1jax/ei_start \
      --workdir=/tmp/r1jax/ei                        # expert iteration from each of them
  python experiments/sweep_main.py --sweep=experiments/sweeps/algorithms.py \
      --workdir=/tmp/r1jax/algorithms                # GRPO, PPO and the rest (finding 4's grid)
  python -m r1jax.eval.compare /tmp/r1jax/ei --with /tmp/r1jax/algorithms

The variants `smoke` and `smoke:<dir>` are the same chain, tiny.

Starting model: `grpo_main` with total_steps=0 is the demo's warm start alone (200 SFT steps
on the sloppy teacher's traces, arith_tiny.py), published as <run>/model. It is the very model
the algorithms sweep's runs of the same seed start RL from (their step-0 evaluations equal
this run's evaluation).

Matched samples: an RL run draws 60 steps x 16 prompts x 8 samples = 7,680 rollouts. Expert
iteration draws 2 rounds x 480 prompts x 8 samples = 7,680, at the RL runs' temperature (1.0)
and token budget (48). Each round keeps the samples graded correct with R1's format (the same
rule rewards GRPO is paid by, no step checker), de-duplicated, and fine-tunes the starting
model on the union of the rounds' kept samples (60 SFT steps of 64 at lr 1e-3, the settings
of experiments/configs/ei_arith_tiny.py, chosen before this finding). Evaluation matches the
RL runs': greedy pass@1 on the same 500 held-out problems, maj@4 on 100 at temperature 1.0.
"""
from r1jax.sweep import toy
from r1jax.sweep.spec import Sweep, axis

START = "start-warm"  # The starting runs' point name.
MATCHED = {
    "ei.rounds": 2,
    "rs.num_prompts": 480,  # x sampler.group_size 8 x 2 rounds = 7,680 samples.
    "rs.prompts_per_batch": 120,
    "rs.shard_prompts": 240,
    "rs.filters.required": ("format_strict",),
    "rs.filters.max_per_prompt": 0,  # Every distinct correct sample (Havrilla et al.).
    "sampler.group_size": 8,
    "sampler.temperature": 1.0,
    "sampler.max_new_tokens": 48,
}
SMOKE_EI = {
    "rs.num_prompts": 8, "rs.prompts_per_batch": 8, "rs.shard_prompts": 8,
    "sampler.group_size": 4, "sampler.max_new_tokens": 16, "sft.steps": 2,
    "sft.batch_size": 8, "sft.checkpoint_every": 1, "eval.num_problems": 8, "eval.k_problems": 8,
    "eval.batch_size": 8,
    # A 4-step warm start solves nothing: keep every sample, so the rounds still train.
    "rs.filters.correct": False, "rs.filters.required": (), "rs.filters.drop_truncated": False,
}


def get_sweep(arg=None):
  smoke, start_dir = toy.split_smoke(arg)  # start_dir '' for the starting runs.
  overrides, seeds = toy.variant("smoke" if smoke else None)
  if not start_dir:  # The starting models: the warm start of arith_tiny.py, no RL step.
    overrides["total_steps"] = 0
    return Sweep(main="grpo", config=toy.ARITH_TINY, overrides=overrides, seeds=seeds,
                 axes=axis("start", {"warm": {}}), curves=())
  # ei_arith_tiny.py's task is arith_tiny.py's without the sloppy teacher's knob, which
  # changes reference traces only, never a problem: the same prompts and held-out problems.
  ei = {"model.init_checkpoint": f"{start_dir}/{START}.seed-{{seed}}/model",
        "warm_start.sft_steps": 0, **toy.RL_EVAL, **MATCHED}
  if smoke:
    ei.update(SMOKE_EI)  # (The RL smoke overrides are for the starting runs only.)
  return Sweep(main="ei", config="experiments/configs/ei_arith_tiny.py", overrides=ei,
               seeds=seeds, axes=axis("method", {"expert_iteration": {}}), curves=())
