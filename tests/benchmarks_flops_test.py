"""benchmarks/flops.py: the FLOP formula against a hand count and against XLA's own count."""
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax.models import presets
from r1jax.models.transformer import Transformer, init_cache
from r1jax.train import sft_trainer
from r1jax.models import params as params_lib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import flops  # noqa: E402  pylint: disable=g-import-not-at-top

# XLA also counts norms, RoPE, softmax, SiLU, biases and the loss, which the formula leaves
# out on purpose: about 2-4% of the total at these tiny widths (D = 64). So XLA's count must
# be at least the formula's and at most 6% above it.
XLA_MAX_EXCESS = 0.06


def _abstract_params(mc):
  """Shapes and dtypes only: lowering for a cost analysis needs no real weights."""
  return jax.eval_shape(lambda: params_lib.init_params(mc, jax.random.key(0)))


def test_hand_count_tiny():
  # tiny: L=2, D=64, N=4, K=2, H=16, F=192, V=128.
  # Per layer: q,o 2*64*4*16 = 8192; k,v 2*64*2*16 = 4096; MLP 3*64*192 = 36864 -> 49152.
  # W = 2*49152 + 64*128 (logits) = 106496 matmul weights.
  mc = presets.get("tiny")
  assert flops.matmul_weights(mc) == 106496
  # B=3, T=8: dense 2*106496*8 = 1703936 per sequence; causal pairs 8*9/2 = 36, dense 64;
  # attention 4*L*N*H*pairs = 4*2*4*16*pairs = 512*pairs.
  assert flops.forward_flops(mc, 3, 8) == 3 * (1703936 + 512 * 36)
  assert flops.forward_flops(mc, 3, 8, causal=False) == 3 * (1703936 + 512 * 64)
  assert flops.train_flops(mc, 3, 8) == 3 * flops.forward_flops(mc, 3, 8)
  # Prefill drops the logits: 2*64*128 = 16384 per token, 131072 per sequence of 8.
  assert flops.prefill_flops(mc, 3, 8) == 3 * (1703936 - 131072 + 512 * 36)
  # Decode: 2 rows against 10 slots: 2 * (2*106496 + 512*10).
  assert flops.decode_step_flops(mc, 2, 10) == 2 * (2 * 106496 + 512 * 10)


@pytest.mark.parametrize("overrides", [{}, {"tie_embeddings": True, "qkv_bias": True}])
def test_matmul_weights_match_the_parameter_tree(overrides):
  """W = every kernel (rank >= 2 per layer) plus the logits matrix, from the real params."""
  mc = presets.get("tiny", **overrides)
  params = jax.tree.leaves_with_path(_abstract_params(mc))
  total = 0
  for path, leaf in params:
    name = jax.tree_util.keystr(path)
    if "kernel" in name:  # Layer kernels carry a leading L axis; lm_head does not.
      total += int(np.prod(leaf.shape))
    elif "embedding" in name and mc.tie_embeddings:  # Tied: the logits use it once.
      total += int(np.prod(leaf.shape))
    else:
      assert "bias" in name or "scale" in name or "embedding" in name, name
  assert flops.matmul_weights(mc) == total


def test_kv_cache_bytes_match_init_cache():
  mc = presets.get("tiny", dtype="bfloat16")
  cache = init_cache(mc, 3, 20)
  assert flops.kv_cache_bytes(mc, 3, 20) == cache.k.nbytes + cache.v.nbytes
  assert flops.decode_step_bytes(mc, 3, 20, 1000) == 1000 + cache.k.nbytes + cache.v.nbytes


def _xla_flops(fn, *args) -> float:
  return jax.jit(fn).lower(*args).compile().cost_analysis()["flops"]


def _check_xla(formula: float, xla: float):
  assert formula <= xla <= (1 + XLA_MAX_EXCESS) * formula, (formula, xla, xla / formula)


# One layer: XLA's cost analysis counts a while loop's body once, not once per iteration, so
# a scan over L > 1 layers would be undercounted by XLA, not by the formula. The model
# computes the full masked T x T score matrix, so XLA is compared with causal=False.
@pytest.mark.parametrize("overrides", [{}, {"tie_embeddings": True, "qkv_bias": True}])
def test_forward_against_xla(overrides):
  mc = presets.get("tiny", num_layers=1, **overrides)
  B, T = 2, 32
  params, tokens = _abstract_params(mc), jax.ShapeDtypeStruct((B, T), jnp.int32)
  forward = lambda p, t: Transformer(mc).apply({"params": p}, t)
  _check_xla(flops.forward_flops(mc, B, T, causal=False), _xla_flops(forward, params, tokens))


def test_train_against_xla():
  mc = presets.get("tiny", num_layers=1)
  B, T = 2, 32
  params, tokens = _abstract_params(mc), jax.ShapeDtypeStruct((B, T), jnp.int32)

  def loss(p, t):
    ones = jnp.ones_like(t)
    positions = jnp.broadcast_to(jnp.arange(T), t.shape)
    nll, n, _ = sft_trainer.token_nll(p, mc, t, ones, ones, positions)
    return nll / n
  _check_xla(flops.train_flops(mc, B, T, causal=False),
             _xla_flops(jax.grad(loss), params, tokens))


def test_decode_step_against_xla():
  mc = presets.get("tiny", num_layers=1)
  R, S = 4, 24
  params, tokens = _abstract_params(mc), jax.ShapeDtypeStruct((R, 1), jnp.int32)
  cache = jax.eval_shape(lambda: init_cache(mc, R, S))
  step = lambda p, t, c: Transformer(mc).apply({"params": p}, t, cache=c)
  # The new token attends to the S cached slots and to itself: S + 1 keys.
  _check_xla(flops.decode_step_flops(mc, R, S + 1), _xla_flops(step, params, tokens, cache))


def test_device_peaks_lookup():
  assert flops.device_peaks("NVIDIA H100 80GB HBM3") == (989.4e12, 3350e9)
  assert flops.device_peaks("NVIDIA H100 PCIe") == (756e12, 2000e9)
  assert flops.device_peaks("NVIDIA H200") == (989.4e12, 4800e9)
  assert flops.device_peaks("TPU v5 lite") == (197e12, 819e9)
  assert flops.device_peaks("cpu") is None
