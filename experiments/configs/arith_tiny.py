"""Toy R1 on CPU: SFT warm start on arithmetic-chain traces, then GRPO (the `make demo` run).

  python experiments/grpo_main.py --config=experiments/configs/arith_tiny.py \
      --workdir=/tmp/r1jax/arith_tiny

Variants via the arg: `arith_tiny.py:dr_grpo` (any rl.algorithm name) or field overrides such
as `--config.rl.kl_coef=0.04`.
"""
from r1jax.train.defaults import base_config


def get_config(arg=None):
  c = base_config()
  c.total_steps = 60  # RL steps (pass@1 plateaus after ~25 on this toy).
  c.tokenizer = "char:math"  # Characters plus single-token <think>, </think>, <answer>, </answer>.

  c.model.preset = "small"  # d_model 128, 4 layers, GQA 4/2 heads: ~0.8M params.
  # Three +/- operations on one-digit numbers: learnable in minutes on a CPU. Half of the
  # warm-start traces come from a sloppy teacher that stops one step early and answers with
  # the intermediate result (truncate_rate); RL with the accuracy reward has to learn to
  # finish the chain, so response length grows as accuracy rises, as in R1.
  # recheck_rate: the share of traces that write their last step twice (redundant tokens; the
  # length-penalty finding sets it, --config.data.knobs.recheck_rate=0.5). switch_rate: the
  # share that abandon the chain for an "Alternatively" restart (the TIP finding's teacher).
  c.data.knobs = dict(difficulty="easy", min_ops=3, max_ops=3, digits=1, operators="+-",
                      truncate_rate=0.5, recheck_rate=0.0, switch_rate=0.0)
  c.data.max_prompt_len = 16

  c.rl.algorithm = arg or "grpo"
  c.rewards.format_strict = 0.1  # R1's rule rewards: accuracy (math_accuracy 1.0) and format.

  c.optim.lr = 1e-4  # 3e-4 learns slower and 1e-3 collapses this 0.8M-param policy.
  c.optim.warmup_steps = 5  # Adam's first steps are ~lr*sign(g): ease into them.

  c.warm_start.sft_steps = 200  # Enough to learn the one-digit facts and the format.

  c.eval.every = 20
  c.checkpoint.every = 20
  return c
