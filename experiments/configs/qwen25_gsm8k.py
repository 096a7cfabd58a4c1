"""R1-Zero-style GRPO of a Qwen2.5 base model on GSM8K (GPU/TPU).

  python experiments/grpo_main.py --config=experiments/configs/qwen25_gsm8k.py:0.5b \\
      --config.model.hf_checkpoint=/path/to/Qwen2.5-0.5B --config.data.data_dir=/path/to/data \\
      --workdir=/tmp/r1jax/qwen25_0.5b_gsm8k

The arg picks the size ('0.5b' or '1.5b'); it sets batch and mesh defaults that fit one
80 GB GPU (0.5B) or an 8-device host (1.5B). The checkpoint folder is a local Hugging Face
download (config.json, *.safetensors, tokenizer.json); nothing is fetched at run time.
"""
from r1jax.train.defaults import base_config


def get_config(arg=None):
  size = arg or "0.5b"
  if size not in ("0.5b", "1.5b"):
    raise ValueError(f"qwen25_gsm8k: config arg must be '0.5b' or '1.5b', got {size!r}")
  c = base_config()
  c.total_steps = 500  # RL steps.
  c.prompts_per_step = 32  # R1-Zero: 32 questions per step.
  c.tokenizer = ""  # '' = the tokenizer.json in model.hf_checkpoint.

  c.model.hf_checkpoint = ""  # Required: local Qwen2.5-{0.5B,1.5B} folder.
  c.model.overrides = dict(dtype="bfloat16", param_dtype="float32",
                           remat_policy="dots_no_batch")  # bf16 compute, fp32 master weights.

  c.data.source = "gsm8k"
  c.data.data_dir = ""  # Required: folder holding gsm8k/{train,test}.jsonl.
  c.data.template = "r1_zero"  # "... Assistant:" then <think> ... </think> <answer> ... </answer>.
  c.data.max_prompt_len = 256

  c.sampler.max_new_tokens = 1024

  c.rl.kl_coef = 0.001  # R1-Zero's beta.
  c.rl.num_minibatches = 4  # 256 rollouts -> 4 updates of 64.
  c.rl.grad_accum = 8 if size == "0.5b" else 16  # Microbatches of 8 (0.5B) or 4 rollouts.
  c.rl.score_chunks = 16  # Old/ref log-probs 16 rows at a time (152k-vocab logits are big).
  c.rewards.format_strict = 0.1

  c.optim.lr = 1e-6 if size == "0.5b" else 5e-7
  c.optim.warmup_steps = 10

  c.mesh.data = 1
  c.mesh.fsdp = -1  # Shard params/optimizer over every device.

  c.eval.k = 8
  c.eval.batch_size = 64
  c.reward_workers = 4  # Grade in a process pool while the accelerator works.
  return c
