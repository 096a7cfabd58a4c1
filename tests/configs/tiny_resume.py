"""A seconds-long GRPO config for the exact-resume test (tests/train_rl_trainer_test.py).

  python experiments/grpo_main.py --config=tests/configs/tiny_resume.py --workdir=/tmp/x
"""
from r1jax.train.defaults import base_config


def get_config(arg=None):
  del arg
  c = base_config()
  c.total_steps = 6
  c.prompts_per_step = 8  # Divisible by the 8 test devices.
  c.model.preset = "tiny"
  c.data.source = "arith"
  c.data.template = "plain"
  c.data.knobs = dict(difficulty="easy", min_ops=1, max_ops=1, digits=1, operators="+-")
  c.data.max_prompt_len = 8
  c.sampler.group_size = 4
  c.sampler.max_new_tokens = 16
  c.rewards.format_tags = 0.5
  c.optim.lr = 1e-3
  c.optim.schedule = "cosine"  # Resume must also restore the schedule position.
  c.rl.num_minibatches = 2
  c.eval.every = 2
  c.eval.num_problems = 8
  c.eval.k = 0
  c.eval.batch_size = 8
  c.checkpoint.every = 100
  c.checkpoint.async_save = False
  return c
