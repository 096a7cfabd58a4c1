"""Attention kernels, chosen by `ModelConfig.attention_impl`.

Shape legend: B batch, T query length, S cache slots, N query heads, K kv heads (G = N // K),
H head_dim.

Implementations (ATTENTION_IMPLS):
  dense  the reference: einsum scores [B, K, G, T, T] in float32 under an explicit boolean mask;
         decoding reads the KV cache with the same maths (`cache_attention`);
  xla    `jax.nn.dot_product_attention(implementation='xla')`;
  cudnn  the same call with cuDNN flash attention (NVIDIA GPU, bf16/fp16, head_dim % 8 == 0);
  auto   cudnn where `cudnn_unsupported` finds nothing against it, else dense: off GPU the xla
         kernel does the same work as dense (it materialises the same scores; measured equal
         on CPU in BENCHMARKS.md), so the reference code stays the default there.

The fused kernels (xla, cudnn) see the mask in one of three static forms (`SelfMask`):
  causal  no padding at all (no segment ids given): `is_causal` alone;
  rolled  each row holds one contiguous run of real tokens (left and/or right padding, no
          packing; the caller promises it with `single_segment`): q, k and v are rolled per row
          so the run starts at column 0, then `is_causal` alone is exact for every real query
          (later padding keys are never visible to it) and the output is rolled back. Padding
          queries get finite garbage, which no loss reads;
  masked  anything else (packing): an explicit [B, 1, T, T] mask. cuDNN only takes such a mask
          as an additive bias, and JAX's cuDNN backward then needs a bias gradient, which it
          supports only for batch size 1 (jax-ml/jax#30593); the packed-offset form that cuDNN
          has is not exposed by jax.nn.dot_product_attention. So 'cudnn' falls back to 'xla'
          here, explicitly.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
from jax.extend import backend as jax_backend
import jax.numpy as jnp

Array = jax.Array

ATTENTION_IMPLS = ("auto", "dense", "xla", "cudnn")

# Big-but-finite: a fully masked query row (padding) then gives a uniform softmax rather than
# NaN, and padding never reaches a loss because losses are masked.
MASK_VALUE = -0.7 * float(jnp.finfo(jnp.float32).max)


class SelfMask(NamedTuple):
  """Which keys each of the T new tokens may see, in the form the chosen kernel wants.

  dense_BxTxT: causal & same segment & real key (dense kernel and the 'masked' form), or None.
  shift_B: per-row column of the first real token (the 'rolled' form), or None.
  Both None: the 'causal' form.
  """
  dense_BxTxT: Array | None
  shift_B: Array | None


def cudnn_unsupported(dtype, head_dim: int) -> str | None:
  """Why cuDNN flash attention cannot run here (None if it can), from jax's own checks."""
  backend = jax.default_backend()
  if backend != "gpu" or "cuda" not in jax_backend.get_backend().platform_version:
    return f"needs an NVIDIA GPU (the default backend is {backend!r})"
  if jnp.dtype(dtype) not in (jnp.bfloat16, jnp.float16):
    return f"needs ModelConfig.dtype bfloat16 or float16, got {jnp.dtype(dtype).name}"
  capability = tuple(int(x) for x in jax.devices()[0].compute_capability.split("."))
  max_h = 256 if capability >= (9, 0) else 128  # Hopper and later take wider heads.
  if head_dim % 8 or head_dim > max_h:
    return f"needs ModelConfig.head_dim a multiple of 8 and <= {max_h}, got {head_dim}"
  return None


def resolve_impl(impl: str, dtype, head_dim: int) -> str:
  """'auto' -> the kernel to use on this backend; 'cudnn' where it cannot run -> ValueError."""
  if impl not in ATTENTION_IMPLS:
    raise ValueError(f"ModelConfig.attention_impl must be one of {ATTENTION_IMPLS}, "
                     f"got {impl!r}")
  if impl not in ("auto", "cudnn"):
    return impl
  why_not = cudnn_unsupported(dtype, head_dim)
  if impl == "cudnn" and why_not:
    raise ValueError(f"ModelConfig.attention_impl='cudnn' {why_not}; use 'auto' to pick a "
                     "kernel that runs here")
  return "dense" if why_not else "cudnn"


def self_mask(impl: str, segment_ids_BxT: Array | None, T: int,
              single_segment: bool) -> SelfMask:
  """The mask of the T new tokens among themselves (0 segment ids are padding)."""
  fused = impl != "dense"
  if segment_ids_BxT is None and fused:
    return SelfMask(None, None)
  if segment_ids_BxT is None:
    segment_ids_BxT = jnp.ones((1, T), jnp.int32)
  valid_BxT = segment_ids_BxT != 0
  if single_segment and fused:
    return SelfMask(None, jnp.argmax(valid_BxT, axis=1).astype(jnp.int32))
  causal_TxT = jnp.tril(jnp.ones((T, T), bool))
  same_seg_BxTxT = segment_ids_BxT[:, :, None] == segment_ids_BxT[:, None, :]
  return SelfMask(causal_TxT[None] & same_seg_BxTxT & valid_BxT[:, None, :], None)


def dense_attention(q_BxTxNxH, k_BxTxKxH, v_BxTxKxH, mask_BxTxT, dtype):
  """Grouped-query softmax attention of the T new tokens among themselves.

  Scores and softmax in float32; probabilities in the compute dtype.
  """
  B, T, N, H = q_BxTxNxH.shape
  K = k_BxTxKxH.shape[2]
  q_BxTxKxGxH = q_BxTxNxH.reshape(B, T, K, N // K, H)
  scores = jnp.einsum("btkgh,bskh->bkgts", q_BxTxKxGxH, k_BxTxKxH,
                      preferred_element_type=jnp.float32) * H ** -0.5
  scores = jnp.where(mask_BxTxT[:, None, None], scores, MASK_VALUE)
  probs = jax.nn.softmax(scores, axis=-1).astype(dtype)
  out_BxTxKxGxH = jnp.einsum("bkgts,bskh->btkgh", probs, v_BxTxKxH)
  return out_BxTxKxGxH.reshape(B, T, N, H)


def cache_attention(q_BxTxNxH, cache_k_BxKxSxH, cache_v_BxKxSxH, mask_BxTxS, dtype):
  """Decoding: the T new tokens attend over the cache, which already holds their own keys.

  mask_BxTxS: which slots each new token sees (real earlier slots, and the new tokens' own
  slots causally). The new keys are written first and read back from the cache, so each
  step's cache is only read after its single in-place write; attending to the old cache and
  the new keys apart made XLA copy the whole cache on every decode step to keep the old one.
  The same maths as dense_attention (float32 scores, probabilities in the compute dtype).
  """
  B, T, N, H = q_BxTxNxH.shape
  K = cache_k_BxKxSxH.shape[1]
  if T == 1:
    return _one_token_attention(q_BxTxNxH, cache_k_BxKxSxH, cache_v_BxKxSxH, mask_BxTxS[:, 0],
                                dtype)
  q_BxTxKxGxH = q_BxTxNxH.reshape(B, T, K, N // K, H)
  scores = jnp.einsum("btkgh,bksh->bkgts", q_BxTxKxGxH, cache_k_BxKxSxH.astype(dtype),
                      preferred_element_type=jnp.float32) * H ** -0.5
  scores = jnp.where(mask_BxTxS[:, None, None], scores, MASK_VALUE)
  probs = jax.nn.softmax(scores, axis=-1).astype(dtype)
  out_BxTxKxGxH = jnp.einsum("bkgts,bksh->btkgh", probs, cache_v_BxKxSxH.astype(dtype))
  return out_BxTxKxGxH.reshape(B, T, N, H)


def _one_token_attention(q_Bx1xNxH, cache_k_BxKxSxH, cache_v_BxKxSxH, mask_BxS, dtype):
  """cache_attention for one new token, as broadcast multiplies and sums.

  With one query per row the score and value products are B x K matrix-vector products; as
  einsums XLA runs them as B x K tiny batched matmuls, which on CPU cost several times the
  time to read the cache. As multiply-and-reduce they fuse into one pass over it.
  """
  B, _, N, H = q_Bx1xNxH.shape
  K = cache_k_BxKxSxH.shape[1]
  f32 = jnp.float32
  q_BxKxGx1xH = q_Bx1xNxH.reshape(B, K, N // K, 1, H).astype(f32) * H ** -0.5
  ck_BxKx1xSxH = cache_k_BxKxSxH[:, :, None].astype(dtype).astype(f32)
  scores_BxKxGxS = jnp.sum(q_BxKxGx1xH * ck_BxKx1xSxH, axis=-1)
  scores_BxKxGxS = jnp.where(mask_BxS[:, None, None, :], scores_BxKxGxS, MASK_VALUE)
  # As dense_attention: probabilities in the compute dtype, products accumulated in float32.
  p_BxKxGxS = jax.nn.softmax(scores_BxKxGxS, axis=-1).astype(dtype).astype(f32)
  cv_BxKx1xSxH = cache_v_BxKxSxH[:, :, None].astype(dtype).astype(f32)
  out_BxKxGxH = jnp.sum(p_BxKxGxS[..., None] * cv_BxKx1xSxH, axis=-2)
  return out_BxKxGxH.astype(dtype).reshape(B, 1, N, H)


def _roll_rows(x_BxTx___, shift_B):
  """Row b moved left by shift_B[b] (cyclic): column t takes column (t + shift) mod T."""
  T = x_BxTx___.shape[1]
  src_BxT = (jnp.arange(T, dtype=jnp.int32)[None] + shift_B[:, None]) % T
  src = src_BxT.reshape(src_BxT.shape + (1,) * (x_BxTx___.ndim - 2))
  return jnp.take_along_axis(x_BxTx___, src, axis=1)


def fused_attention(q_BxTxNxH, k_BxTxKxH, v_BxTxKxH, mask: SelfMask, implementation: str):
  """Self-attention of the new tokens via jax.nn.dot_product_attention (xla or cudnn)."""
  kw = dict(implementation=implementation)
  if mask.dense_BxTxT is not None:
    # Packing: cuDNN cannot take this mask in training (see the module docstring).
    return jax.nn.dot_product_attention(q_BxTxNxH, k_BxTxKxH, v_BxTxKxH,
                                        mask=mask.dense_BxTxT[:, None], implementation="xla")
  if mask.shift_B is None:
    return jax.nn.dot_product_attention(q_BxTxNxH, k_BxTxKxH, v_BxTxKxH, is_causal=True, **kw)
  q, k, v = (_roll_rows(x, mask.shift_B) for x in (q_BxTxNxH, k_BxTxKxH, v_BxTxKxH))
  out_BxTxNxH = jax.nn.dot_product_attention(q, k, v, is_causal=True, **kw)
  return _roll_rows(out_BxTxNxH, -mask.shift_B)
