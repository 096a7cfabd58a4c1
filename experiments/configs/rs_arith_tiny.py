"""Rejection sampling on arithmetic chains from a trained checkpoint (R1's second round, EI).

  python experiments/rejection_sampling_main.py --config=experiments/configs/rs_arith_tiny.py \
      --config.model.init_checkpoint=/tmp/r1jax/sft/model --workdir=/tmp/r1jax/rs
  python experiments/rejection_sampling_main.py \
      --config=experiments/configs/rs_arith_tiny.py:majority \
      --config.model.init_checkpoint=/tmp/r1jax/sft/model --workdir=/tmp/r1jax/rs_majority

`:majority` ignores the gold answers and labels each prompt by the majority answer of its
samples (self-consistency), keeping prompts whose majority holds at least 60% of the votes.
"""
from r1jax.recipe.defaults import recipe_config


def get_config(arg=None):
  if arg not in (None, "majority"):
    raise ValueError(f"rs_arith_tiny: unknown variant {arg!r}; use none or 'majority'")
  c = recipe_config()
  c.tokenizer = "char:math"  # As the checkpoint was trained with (sft_arith_tiny).
  c.model.init_checkpoint = ""  # Required: --config.model.init_checkpoint=<sft workdir>/model.
  c.data.knobs = dict(difficulty="easy", min_ops=3, max_ops=3, digits=1, operators="+-")
  c.data.max_prompt_len = 16

  c.sampler.temperature = 0.7  # Below 1: fewer sloppy steps, more clean correct traces.
  c.rewards = dict(math_accuracy=1.0, format_strict=0.1)  # Graded and stored per sample.

  c.rs.num_prompts = 2048
  c.rs.prompts_per_batch = 256
  c.rs.shard_prompts = 512  # Four shards: the unit of resumption.
  c.rs.labels = "majority" if arg == "majority" else "gold"
  c.rs.min_confidence = 0.6  # Majority labels only.
  # A right answer can hide wrong steps ("5+1=5" then a lucky slip back): keep only traces in
  # R1's format whose every step checks.
  c.rs.filters.required = ("format_strict", "process_steps")
  c.rs.filters.max_per_prompt = 1  # The toy has one clean trace per problem anyway.
  c.rs.filters.prefer = "shortest"
  return c
