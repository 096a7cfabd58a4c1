"""Presets: real shapes have the published parameter counts; unknown names fail clearly."""
import math

import jax
import pytest

from r1jax.models import presets
from r1jax.models import params as params_lib

# Parameter counts of the released checkpoints (sum of tensor sizes in their safetensors).
PUBLISHED = {
    "qwen2.5-0.5b": 494_032_768,
    "qwen2.5-1.5b": 1_543_714_304,
    "llama-3.2-1b": 1_235_814_400,
    "llama-3.2-3b": 3_212_749_824,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_real_presets_have_published_param_counts(name):
  cfg = presets.get(name)
  assert cfg.num_params == PUBLISHED[name]
  # And the actual (abstract) param tree agrees: no memory is allocated here.
  abstract = jax.eval_shape(lambda: params_lib.init_params(cfg, jax.random.key(0)))
  assert sum(math.prod(x.shape) for x in jax.tree.leaves(abstract)) == PUBLISHED[name]


def test_overrides_and_unknown_names():
  assert presets.get("tiny", vocab_size=83).vocab_size == 83
  with pytest.raises(ValueError, match="model.preset"):
    presets.get("gpt-5")
  with pytest.raises(ValueError, match="unknown ModelConfig field"):
    presets.get("tiny", widht=3)
