"""SFT on arithmetic-chain traces (a teacher / an initial model), or distillation of a student.

  python experiments/sft_main.py --config=experiments/configs/sft_arith_tiny.py \
      --workdir=/tmp/r1jax/sft
  python experiments/sft_main.py --config=experiments/configs/sft_arith_tiny.py:distill \
      --config.sft.train_file=/tmp/r1jax/rs/data.jsonl --workdir=/tmp/r1jax/student

The default trains the 'small' preset on reference traces; `:distill` trains the smaller
'tiny' preset on the kept samples of a rejection-sampling run (sft.train_file).
"""
from r1jax.recipe.defaults import recipe_config


def get_config(arg=None):
  if arg not in (None, "distill"):
    raise ValueError(f"sft_arith_tiny: unknown variant {arg!r}; use none or 'distill'")
  c = recipe_config()
  c.tokenizer = "char:math"  # Characters plus single-token <think>, </think>, <answer>, </answer>.
  c.model.preset = "small"  # d_model 128, 4 layers: ~0.8M params.
  # Three +/- operations on one-digit numbers: ~40% greedy pass@1 after 120 steps.
  c.data.knobs = dict(difficulty="easy", min_ops=3, max_ops=3, digits=1, operators="+-")
  c.data.max_prompt_len = 16

  c.sft.checkpoint_every = 40  # Resumable every 40 steps.

  c.eval.k = 0  # No sampled pass@k here (eval_main measures it).
  # A multiple of 8 too (make runs on 8 host CPU devices); the last batch is padded.
  c.eval.batch_size = 256
  if arg == "distill":
    c.model.preset = "tiny"  # The student: d_model 64, 2 layers, ~4x fewer params.
    # Required: the teacher's kept samples, --config.sft.train_file=<rs workdir>/data.jsonl.
    # Evaluation stays on data.source: the teacher's held-out problems.
    c.sft.train_file = ""
  return c
