"""Finding 6 (FINDINGS.md): distilling an RL-trained teacher's traces into a smaller student
beats RL directly on that student (DeepSeek-R1's distilled models; LMSI).

  # Teachers: the demo's SFT + GRPO models, one per seed (finding 4's sweep, reward-outcome).
  python experiments/sweep_main.py --sweep=experiments/sweeps/sparse_vs_dense.py \
      --workdir=/tmp/r1jax/svd
  # 1. The teacher's traces: rejection sampling from each teacher (rs_arith_tiny.py).
  python experiments/sweep_main.py \
      --sweep=experiments/findings/distillation.py:teacher:/tmp/r1jax/svd \
      --workdir=/tmp/r1jax/distill_rs
  # 2. The student distilled: SFT of the 'tiny' preset on those traces.
  python experiments/sweep_main.py \
      --sweep=experiments/findings/distillation.py:student:/tmp/r1jax/distill_rs \
      --workdir=/tmp/r1jax/distill_sft
  # 3. RL on the student: the demo's run (warm start + 60 GRPO steps) with the 'tiny' preset.
  python experiments/sweep_main.py --sweep=experiments/findings/distillation.py:rl \
      --workdir=/tmp/r1jax/distill_rl
  python -m r1jax.eval.compare /tmp/r1jax/distill_sft --with /tmp/r1jax/distill_rl

Every stage has a smoke variant: `smoke:teacher:<dir>`, `smoke:student:<dir>`, `smoke:rl`
(its teachers: a `sparse_vs_dense.py:smoke` sweep).

Teacher (small preset, ~0.8M params) and student (tiny preset, d_model 64, 2 layers, ~4x
fewer) share the task, tokenizer and held-out problems. The teacher's traces: 2,048 training
prompts x 8 samples at temperature 0.7, kept when correct, in R1's format and with every step
right, the shortest one per prompt (rs_arith_tiny.py as committed). The distilled student: 200
SFT steps of 64 from random init on those traces, the SFT budget of the RL student's warm
start (same optimizer settings). The RL student: warm start on the task's reference traces
(half of them from the sloppy teacher), then GRPO, exactly the demo with model.preset=tiny.
Both students are evaluated as the RL runs are (greedy pass@1 on 500 held-out problems).
"""
from r1jax.sweep import toy
from r1jax.sweep.spec import Sweep, axis

TEACHER_POINT = "reward-outcome"  # The teachers' point in the sparse_vs_dense sweep.
RS_POINT = "teacher-traces"
SFT_LIKE_WARM_START = {"sft.steps": 200, "sft.batch_size": 64, "sft.lr": 3e-3,
                       "sft.warmup_steps": 20, "sft.schedule": "cosine", "sft.max_len": 64}
SMOKE = {
    "teacher": {"rs.num_prompts": 8, "rs.prompts_per_batch": 8, "rs.shard_prompts": 8,
                "sampler.group_size": 4, "sampler.max_new_tokens": 16,
                # Smoke teachers solve nothing: keep every sample.
                "rs.filters.correct": False, "rs.filters.required": (),
                "rs.filters.drop_truncated": False},
    "student": {"sft.steps": 2, "sft.batch_size": 8, "sft.warmup_steps": 1,
                "sft.checkpoint_every": 1, "eval.num_problems": 8, "eval.k_problems": 8,
                "eval.batch_size": 8},
}
USAGE = "'[smoke:]teacher:<sweep dir>', '[smoke:]student:<teacher dir>' or '[smoke:]rl'"


def get_sweep(arg=None):
  arg = arg or ""
  smoke, rest = toy.split_smoke(arg)
  stage, _, src = rest.partition(":")
  rl_overrides, seeds = toy.variant("smoke" if smoke else None)
  if stage == "rl" and not src:
    return Sweep(main="grpo", config=toy.ARITH_TINY, seeds=seeds,
                 overrides={**rl_overrides, "model.preset": "tiny"},
                 axes=axis("student", {"rl": {}}))
  if stage == "teacher" and src:
    return Sweep(main="rejection_sampling", config="experiments/configs/rs_arith_tiny.py",
                 seeds=seeds, axes=axis("teacher", {"traces": {}}), curves=(),
                 metrics=(("wall_time_s", "final"),),
                 overrides={"model.init_checkpoint": f"{src}/{TEACHER_POINT}.seed-{{seed}}/model",
                            **(SMOKE["teacher"] if smoke else {})})
  if stage == "student" and src:
    return Sweep(main="sft", config="experiments/configs/sft_arith_tiny.py:distill",
                 seeds=seeds, axes=axis("student", {"distilled": {}}), curves=(),
                 baseline="", overrides={
                     "sft.train_file": f"{src}/{RS_POINT}.seed-{{seed}}/data.jsonl",
                     **SFT_LIKE_WARM_START, **toy.RL_EVAL,
                     **(SMOKE["student"] if smoke else {})})
  raise ValueError(f"unknown variant {arg!r}; use {USAGE}")
