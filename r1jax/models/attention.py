"""Attention kernels, chosen by `ModelConfig.attention_impl`.

Shape legend: B batch, T query length, S cache slots, N query heads, K kv heads (G = N // K),
H head_dim.

Implementations (ATTENTION_IMPLS):
  dense  the reference: einsum scores [B, K, G, T, T] in float32 under an explicit boolean mask;
         the only kernel that also reads a KV cache (decoding, see `dense_attention`);
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


def dense_attention(q_BxTxNxH, k_BxTxKxH, v_BxTxKxH, mask_BxTxT, dtype, cache_k_BxKxSxH=None,
                    cache_v_BxKxSxH=None, cache_mask_BxS=None):
  """Grouped-query softmax attention over the new keys and, if given, a read-only cache.

  Cached and new keys share one softmax (scores concatenated), so the cache is only read: the
  new keys/values are written into it once per step outside the layer scan, not copied here.
  Scores and softmax in float32.
  """
  B, T, N, H = q_BxTxNxH.shape
  K = k_BxTxKxH.shape[2]
  if T == 1 and cache_k_BxKxSxH is not None:
    return _decode_attention(q_BxTxNxH, k_BxTxKxH, v_BxTxKxH, mask_BxTxT, dtype,
                             cache_k_BxKxSxH, cache_v_BxKxSxH, cache_mask_BxS)
  q_BxTxKxGxH = q_BxTxNxH.reshape(B, T, K, N // K, H)
  scale = H ** -0.5
  scores = jnp.einsum("btkgh,bskh->bkgts", q_BxTxKxGxH, k_BxTxKxH,
                      preferred_element_type=jnp.float32) * scale
  scores = jnp.where(mask_BxTxT[:, None, None], scores, MASK_VALUE)
  if cache_k_BxKxSxH is not None:
    cached = jnp.einsum("btkgh,bksh->bkgts", q_BxTxKxGxH, cache_k_BxKxSxH.astype(dtype),
                        preferred_element_type=jnp.float32) * scale
    cached = jnp.where(cache_mask_BxS[:, None, None, None, :], cached, MASK_VALUE)
    scores = jnp.concatenate([cached, scores], axis=-1)
  probs = jax.nn.softmax(scores, axis=-1).astype(dtype)
  out_BxTxKxGxH = jnp.einsum("bkgts,bskh->btkgh", probs[..., -T:], v_BxTxKxH)
  if cache_v_BxKxSxH is not None:
    out_BxTxKxGxH = out_BxTxKxGxH + jnp.einsum(
        "bkgts,bksh->btkgh", probs[..., :-T], cache_v_BxKxSxH.astype(dtype))
  return out_BxTxKxGxH.reshape(B, T, N, H)


def _decode_attention(q_Bx1xNxH, k_Bx1xKxH, v_Bx1xKxH, mask_Bx1x1, dtype, cache_k_BxKxSxH,
                      cache_v_BxKxSxH, cache_mask_BxS):
  """dense_attention for one new token: the same maths as broadcast multiplies and sums.

  With one query per row the score and value products are B x K matrix-vector products; as
  einsums XLA runs them as B x K tiny batched matmuls, which on CPU cost several times the
  time to read the cache. As multiply-and-reduce they fuse into one pass over it.
  """
  B, _, N, H = q_Bx1xNxH.shape
  K = k_Bx1xKxH.shape[2]
  f32 = jnp.float32
  q_BxKxGx1xH = q_Bx1xNxH.reshape(B, K, N // K, 1, H).astype(f32) * H ** -0.5
  ck_BxKx1xSxH = cache_k_BxKxSxH[:, :, None].astype(f32)
  cached_BxKxGxS = jnp.sum(q_BxKxGx1xH * ck_BxKx1xSxH, axis=-1)
  cached_BxKxGxS = jnp.where(cache_mask_BxS[:, None, None, :], cached_BxKxGxS, MASK_VALUE)
  k_BxKx1xH = k_Bx1xKxH[:, 0, :, None, :].astype(f32)
  new_BxKxG = jnp.sum(q_BxKxGx1xH[:, :, :, 0] * k_BxKx1xH, axis=-1)
  new_BxKxG = jnp.where(mask_Bx1x1[:, 0, 0, None, None], new_BxKxG, MASK_VALUE)
  top_BxKxG = jnp.maximum(jnp.max(cached_BxKxGxS, axis=-1), new_BxKxG)
  p_cached = jnp.exp(cached_BxKxGxS - top_BxKxG[..., None])
  p_new = jnp.exp(new_BxKxG - top_BxKxG)
  denom_BxKxG = jnp.sum(p_cached, axis=-1) + p_new
  # As dense_attention: probabilities in the compute dtype, products accumulated in float32.
  p_cached = (p_cached / denom_BxKxG[..., None]).astype(dtype).astype(f32)
  p_new = (p_new / denom_BxKxG).astype(dtype).astype(f32)
  out_BxKxGxH = jnp.sum(p_cached[..., None] * cache_v_BxKxSxH[:, :, None].astype(f32), axis=-2)
  out_BxKxGxH = out_BxKxGxH + p_new[..., None] * v_Bx1xKxH[:, 0, :, None, :].astype(f32)
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
