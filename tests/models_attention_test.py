"""models/attention.py: every kernel and mask form against a NumPy float64 reference."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax.models import attention as attn

# float32 scores and softmax against float64: agreement to ~1e-6; 2e-5 leaves summation-order
# headroom and still catches any wrong mask (errors of O(0.1)).
F32_ATOL = 2e-5

# Segment ids of 2 rows x 8 tokens (0 = padding) and whether each row is one contiguous run.
LAYOUTS = {
    "no_padding": (None, True),
    "left_padding": ([[0, 0, 0, 1, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1, 1, 1]], True),
    "right_padding": ([[1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 0]], True),
    "both_sides": ([[0, 0, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]], True),
    "packed": ([[1, 1, 1, 2, 2, 2, 2, 0], [1, 1, 2, 2, 3, 3, 3, 3]], False),
}


def _reference(q, k, v, seg):
  """Float64 softmax attention: causal, same segment, real keys; NaN rows for padding queries."""
  B, T, N, H = q.shape
  G = N // k.shape[2]
  k, v = np.repeat(k, G, axis=2), np.repeat(v, G, axis=2)
  scores = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(H)
  allowed = np.tril(np.ones((T, T), bool))[None] & (seg[:, :, None] == seg[:, None, :])
  allowed &= (seg != 0)[:, None, :]
  scores = np.where(allowed[:, None], scores, -np.inf)
  with np.errstate(invalid="ignore"):  # Padding queries see no key: NaN, never compared.
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
  return np.einsum("bnts,bsnh->btnh", probs, v)


def _qkv(kv_heads, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(2, 8, 4, 16)), rng.normal(size=(2, 8, kv_heads, 16)),
          rng.normal(size=(2, 8, kv_heads, 16)))


@pytest.mark.parametrize("impl", ["dense", "xla"])
@pytest.mark.parametrize("kv_heads", [1, 2, 4])  # MQA, GQA, MHA
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_kernels_match_float64_reference(layout, kv_heads, impl):
  seg_ids, single = LAYOUTS[layout]
  q, k, v = _qkv(kv_heads)
  seg = np.ones((2, 8), np.int32) if seg_ids is None else np.asarray(seg_ids, np.int32)
  mask = attn.self_mask(impl, None if seg_ids is None else jnp.asarray(seg), 8, single)
  q32, k32, v32 = (jnp.asarray(x, jnp.float32) for x in (q, k, v))
  if impl == "dense":
    out = attn.dense_attention(q32, k32, v32, mask.dense_BxTxT, jnp.float32)
  else:
    out = attn.fused_attention(q32, k32, v32, mask, "xla")
  real = seg != 0  # Outputs at padding queries are unspecified.
  np.testing.assert_allclose(np.asarray(out)[real], _reference(q, k, v, seg)[real],
                             atol=F32_ATOL, rtol=0)


def test_mask_forms_are_chosen_statically():
  seg = jnp.array([[0, 1, 1, 1], [1, 1, 1, 0]])
  assert attn.self_mask("xla", None, 4, False) == attn.SelfMask(None, None)  # causal
  rolled = attn.self_mask("cudnn", seg, 4, True)
  assert rolled.dense_BxTxT is None and rolled.shift_B.tolist() == [1, 0]
  assert attn.self_mask("xla", seg, 4, False).dense_BxTxT.shape == (2, 4, 4)  # packing
  assert attn.self_mask("dense", seg, 4, True).shift_B is None  # dense ignores the promise


def test_roll_rows_round_trip():
  x = jnp.arange(2 * 5 * 3).reshape(2, 5, 3)
  shift = jnp.array([2, 4])
  rolled = attn._roll_rows(x, shift)
  np.testing.assert_array_equal(rolled[0], np.roll(np.asarray(x[0]), -2, axis=0))
  np.testing.assert_array_equal(rolled[1], np.roll(np.asarray(x[1]), -4, axis=0))
  np.testing.assert_array_equal(attn._roll_rows(rolled, -shift), x)


def test_auto_is_not_cudnn_on_cpu_and_cudnn_is_a_clear_error():
  assert jax.default_backend() == "cpu"
  for dtype in ("float32", "bfloat16"):
    assert attn.resolve_impl("auto", dtype, 64) == "dense"
  assert attn.resolve_impl("xla", "float32", 64) == "xla"
  with pytest.raises(ValueError, match=r"attention_impl='cudnn' needs an NVIDIA GPU"):
    attn.resolve_impl("cudnn", "bfloat16", 64)
  with pytest.raises(ValueError, match="attention_impl must be one of"):
    attn.resolve_impl("flash", "bfloat16", 64)
