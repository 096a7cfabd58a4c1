"""Expert iteration on arithmetic chains: a short SFT warm start, then 2 rounds of rejection
sampling and SFT from the warm-started model on the union of kept samples.

  python experiments/ei_main.py --config=experiments/configs/ei_arith_tiny.py \
      --workdir=/tmp/r1jax/ei

Round 0 is the warm start (~40% greedy pass@1 on held-out problems); each round's table row
shows held-out greedy pass@1, pass@4 and maj@4 after its SFT.
"""
from r1jax.recipe.defaults import recipe_config


def get_config(arg=None):
  del arg
  c = recipe_config()
  c.tokenizer = "char:math"
  c.model.preset = "small"  # ~0.8M params; model.init_checkpoint would replace the warm start.
  c.data.knobs = dict(difficulty="easy", min_ops=3, max_ops=3, digits=1, operators="+-")
  c.data.max_prompt_len = 16

  c.warm_start.sft_steps = 120  # Round 0: SFT on reference traces (the initial model).

  c.sampler.temperature = 0.7  # Rejection sampling's samples.
  c.eval.temperature = 0.7  # The pass@k/maj@k samples.
  c.rewards = dict(math_accuracy=1.0, format_strict=0.1)

  c.rs.num_prompts = 2048  # The same training prompts every round (new samples: salt=round).
  c.rs.prompts_per_batch = 256
  c.rs.shard_prompts = 1024
  c.rs.filters.required = ("format_strict", "process_steps")  # Clean traces only.
  c.rs.filters.max_per_prompt = 1

  c.sft.steps = 60  # Per round, from the initial model on the union.
  c.sft.lr = 1e-3
  c.sft.warmup_steps = 0
  c.sft.checkpoint_every = 30

  c.eval.k_problems = 200
  # A multiple of 8 too (make runs on 8 host CPU devices); the last batch is padded.
  c.eval.batch_size = 256
  return c
