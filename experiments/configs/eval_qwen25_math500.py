"""Evaluation of a Qwen2.5(-Math) chat checkpoint on MATH-500 and GSM8K (GPU/TPU).

  python experiments/eval_main.py --config=experiments/configs/eval_qwen25_math500.py \\
      --config.model.hf_checkpoint=/path/to/Qwen2.5-Math-1.5B-Instruct \\
      --config.data.data_dir=/path/to/data --workdir=/tmp/r1jax/eval_qwen25_math500

The model was not trained on R1's <answer> format: it is prompted with Qwen's own chat
template ("put your final answer within \\boxed{}") and may answer in prose, so correctness
is graded with flexible extraction (`math_accuracy_flexible`: the last box, else the last math
expression, else the last number), as the common evaluators grade such models.
"""
from r1jax.recipe.defaults import recipe_config


def get_config(arg=None):
  del arg
  c = recipe_config()
  c.tokenizer = ""  # '' = the tokenizer.json in model.hf_checkpoint.
  c.model.hf_checkpoint = ""  # Required: a local Qwen2.5 (Math) Instruct folder.
  c.model.overrides = dict(dtype="bfloat16")
  c.data.data_dir = ""  # Required: folder holding math500/ and gsm8k/ (test.jsonl).
  c.data.source = "math500"
  c.data.eval_source = "math500"
  c.data.template = "qwen_chat"
  c.data.max_prompt_len = 512

  c.sampler.max_new_tokens = 2048
  c.sampler.stop_strings = ()  # The chat model ends its turn with its eos token.
  c.eval.accuracy_reward = "math_accuracy_flexible"  # Answers in any format (see above).

  c.test_time.num_problems = 500
  c.test_time.benchmarks = ("gsm8k",)
  c.test_time.batch_size = 100
  c.test_time.ks = (1, 4, 8)
  c.test_time.temperature = 0.7
  return c
