"""R1-Zero-style GRPO of a Qwen2.5 (Math) base model, evaluated on MATH-500 (GPU/TPU).

  python experiments/grpo_main.py --config=experiments/configs/qwen25_math.py:1.5b \\
      --config.model.hf_checkpoint=/path/to/Qwen2.5-Math-1.5B \\
      --config.data.data_dir=/path/to/data --workdir=/tmp/r1jax/qwen25_math

Trains on GSM8K train by default (the MATH train split is not among the shipped benchmark
files); point data.source at a 'mixture' or your own JSONL for MATH-train prompts. Evaluates
greedy pass@1 on all of MATH-500 and maj@8 / pass@8 on 100 of its problems.
"""
import importlib.util
import pathlib


def _gsm8k_config(arg):
  path = pathlib.Path(__file__).with_name("qwen25_gsm8k.py")
  spec = importlib.util.spec_from_file_location("qwen25_gsm8k", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def get_config(arg=None):
  c = _gsm8k_config(arg or "1.5b")
  c.data.eval_source = "math500"  # Held-out: MATH-500 (LaTeX answers, sympy-checked).
  c.sampler.max_new_tokens = 2048  # MATH solutions run longer than GSM8K's.
  c.rl.grad_accum = 32  # Longer sequences: microbatches of 2 rollouts.
  c.rl.score_chunks = 32
  c.eval.batch_size = 50
  return c
