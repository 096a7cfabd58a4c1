"""The demo's task with an overthinking teacher, for the length-penalty finding (FINDINGS.md 7):
half of the warm-start traces write their last step twice before </think>.

  python experiments/grpo_main.py --config=experiments/configs/arith_length.py \
      --workdir=/tmp/r1jax/arith_length                      # R1's rule rewards only
  python experiments/grpo_main.py --config=experiments/configs/arith_length.py \
      --config.rewards.cosine_length=1.0 --workdir=/tmp/r1jax/arith_length_cosine

Everything else is arith_tiny.py (the demo): 200 SFT warm-start steps, 60 GRPO steps.
"""
import pathlib

from r1jax.experiment_files import load_config


def get_config(arg=None):
  c = load_config(pathlib.Path(__file__).with_name("arith_tiny.py"), arg or "")
  c.data.knobs.recheck_rate = 0.5  # The redundant line: nothing a correct answer needs.
  # The cosine length reward (Yeo et al. 2025) at its default values, length in tokens up to
  # the sampler's budget; its weight (rewards.cosine_length) is 0, i.e. off, unless set. All
  # values are spelled out so a run can change one (--config.reward_params.cosine_length.*).
  c.reward_params.cosine_length = dict(
      max_len=c.sampler.max_new_tokens, min_value_wrong=-1.0, max_value_wrong=-0.5,
      min_value_correct=0.5, max_value_correct=1.0, exceed_penalty=-1.0)
  return c
