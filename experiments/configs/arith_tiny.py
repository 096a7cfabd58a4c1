"""Toy R1 on CPU: SFT warm start on arithmetic-chain traces, then GRPO (the `make demo` run).

  python experiments/grpo_main.py --config=experiments/configs/arith_tiny.py \
      --workdir=/tmp/r1jax/arith_tiny

Variants via the arg: `arith_tiny.py:dr_grpo` (any rl.algorithm name) or field overrides such
as `--config.rl.kl_coef=0.04`.
"""
from r1jax.train.defaults import base_config


def get_config(arg=None):
  c = base_config()
  c.seed = 0
  c.total_steps = 120  # RL steps.
  c.prompts_per_step = 16  # 16 prompts x 8 samples = 128 rollouts per step.
  c.tokenizer = "char:math"  # Characters plus single-token <think>, </think>, <answer>, </answer>.

  c.model.preset = "small"  # d_model 128, 4 layers, GQA 4/2 heads: ~0.8M params.
  c.data.source = "arith"  # Arithmetic chains with step-by-step reference traces.
  c.data.template = "plain"  # "<question>\n": short prompts keep the toy fast.
  # Three to three +/- operations on one-digit numbers: learnable in minutes on a CPU.
  c.data.knobs = dict(difficulty="easy", min_ops=3, max_ops=3, digits=1, operators="+-")
  c.data.max_prompt_len = 16

  c.sampler.group_size = 8
  c.sampler.max_new_tokens = 48
  c.sampler.temperature = 1.0

  c.rl.algorithm = arg or "grpo"
  c.rl.kl_coef = 0.0  # R1-Zero used a tiny beta; the toy needs none.
  c.rewards.math_accuracy = 1.0  # R1's rule rewards: accuracy ...
  c.rewards.format_strict = 0.1  # ... and format.

  c.optim.lr = 1e-4
  c.optim.grad_clip = 1.0

  c.warm_start.sft_steps = 120  # Deliberately short: leaves headroom for RL to show.
  c.warm_start.batch_size = 64
  c.warm_start.max_len = 64
  c.warm_start.lr = 3e-3

  c.eval.every = 40
  c.eval.num_problems = 500  # Greedy pass@1 on 500 held-out problems.
  c.eval.k = 4
  c.eval.k_problems = 100
  c.eval.batch_size = 250
  c.checkpoint.every = 40
  c.mesh.data = -1
  return c
