"""Shared by the recipe tests (not a test module): a tiny model trained for seconds on the
easiest arithmetic chains, cached per process so several test files pay for it once."""
import functools

import jax

from r1jax.data import sources
from r1jax.models import presets
from r1jax.recipe import sft
from r1jax.models.params import init_params
from r1jax.recipe.defaults import recipe_config
from r1jax.tokenizers import char_tokenizer_for_math

# One '+' or '-' on one-digit numbers: about 130 distinct problems, so a tiny model learns
# the training ones in seconds (held-out ones are pairs it never saw: use train prompts).
KNOBS = dict(difficulty="easy", min_ops=1, max_ops=1, digits=1, operators="+-")
TOKENIZER = char_tokenizer_for_math()
MODEL = presets.get("tiny", vocab_size=TOKENIZER.vocab_size)


def source(split):
  return sources.get_source("arith", None, split, "plain", **KNOBS)


def examples(split, n, start=0):
  src = source(split)
  return [src[i] for i in range(start, start + n)]


@functools.lru_cache(maxsize=None)
def trained_params(steps: int = 100):
  """Tiny-preset params after `steps` SFT steps on reference traces (no mesh)."""
  params = init_params(MODEL, jax.random.key(0))
  cfg = sft.SFTConfig.from_config(recipe_config().sft, steps=steps, batch_size=32, max_len=24,
                                  lr=3e-3, warmup_steps=10, checkpoint_every=0,
                                  log_every=10**9)
  return sft.finetune(params, MODEL, source("train"), TOKENIZER, cfg, log=lambda s: None)
