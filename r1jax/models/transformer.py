"""A Llama/Qwen2-family decoder in Flax linen, with one forward pass for train/prefill/decode.

Shape legend:
  B batch, T query length, S cache length (slots), L layers, D d_model, N query heads,
  K kv heads (GQA: N % K == 0, G = N // K), H head_dim, F mlp width, V vocab.

The same `Transformer.__call__` serves three uses:
  * training: `apply({'params': p}, tokens_BxT)` -> logits_BxTxV (causal, same-segment mask);
  * prefill:  `apply(..., tokens_BxT, positions_BxT, segment_ids_BxT, cache=init_cache(...),
              prefill=True)` -> (logits_BxTxV, cache) with the prompt's keys/values written at
              slots [0, T); the empty cache is not read, so this costs O(T^2), not O(T (S + T));
  * decode:   the same call with T = 1 (or a few tokens) writes at slots [index, index + T).
Attention kernels (dense reference, XLA or cuDNN flash attention) live in models/attention.py;
decoding always uses the dense one, the only one that reads the cache.
The cache is an explicit pytree (not a linen 'cache' collection) so the sampler can keep it in a
`lax.while_loop` carry and shard it like any array. Every row shares the write slot `index`;
rows differ only in which slots are valid (`mask_BxS`) and in their RoPE positions, which makes
left- or right-padded batches of different prompt lengths exact without per-row scatters.
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from r1jax.models import attention as attn_lib

Array = jax.Array

REMAT_POLICIES = {
    "none": None,
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.checkpoint_dots,
    "dots_no_batch": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
}


@dataclasses.dataclass(frozen=True)
class RopeScaling:
  """Llama-3 style frequency-dependent RoPE scaling (HF rope_type 'llama3')."""
  factor: float = 8.0
  low_freq_factor: float = 1.0
  high_freq_factor: float = 4.0
  original_max_position_embeddings: int = 8192


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Shape and numerics of a decoder. Validated on construction; errors name the field."""
  vocab_size: int
  d_model: int
  num_layers: int
  num_heads: int
  num_kv_heads: int
  head_dim: int
  mlp_dim: int
  rms_norm_eps: float = 1e-6
  rope_theta: float = 10000.0
  rope_scaling: RopeScaling | None = None
  qkv_bias: bool = False  # Qwen2 has biases on q/k/v projections.
  tie_embeddings: bool = False  # Output projection = embedding matrix transposed.
  param_dtype: str = "float32"
  dtype: str = "float32"  # Compute dtype; bf16 compute with fp32 params is supported.
  remat_policy: str = "none"  # One of REMAT_POLICIES.
  max_seq_len: int = 4096  # Longest sequence (prompt + completion) the presets plan for.
  attention_impl: str = "auto"  # One of attention.ATTENTION_IMPLS; resolved when traced.

  def __post_init__(self):
    for f in ("vocab_size", "d_model", "num_layers", "num_heads", "num_kv_heads", "head_dim",
              "mlp_dim", "max_seq_len"):
      v = getattr(self, f)
      if not isinstance(v, int) or v <= 0:
        raise ValueError(f"ModelConfig.{f} must be a positive int, got {v!r}")
    if self.num_heads % self.num_kv_heads:
      raise ValueError(f"ModelConfig.num_heads ({self.num_heads}) must be divisible by "
                       f"ModelConfig.num_kv_heads ({self.num_kv_heads})")
    if self.head_dim % 2:
      raise ValueError(f"ModelConfig.head_dim must be even for RoPE, got {self.head_dim}")
    for f in ("param_dtype", "dtype"):
      if getattr(self, f) not in ("float32", "bfloat16", "float16"):
        raise ValueError(f"ModelConfig.{f} must be float32, bfloat16 or float16, "
                         f"got {getattr(self, f)!r}")
    if self.remat_policy not in REMAT_POLICIES:
      raise ValueError(f"ModelConfig.remat_policy must be one of {sorted(REMAT_POLICIES)}, "
                       f"got {self.remat_policy!r}")
    if self.attention_impl not in attn_lib.ATTENTION_IMPLS:
      raise ValueError(f"ModelConfig.attention_impl must be one of "
                       f"{attn_lib.ATTENTION_IMPLS}, got {self.attention_impl!r}")
    if self.rms_norm_eps <= 0:
      raise ValueError(f"ModelConfig.rms_norm_eps must be > 0, got {self.rms_norm_eps}")

  @property
  def num_params(self) -> int:
    """Parameter count (embeddings included once when tied)."""
    D, H, F = self.d_model, self.head_dim, self.mlp_dim
    attn = D * H * (self.num_heads * 2 + self.num_kv_heads * 2)
    if self.qkv_bias:
      attn += H * (self.num_heads + 2 * self.num_kv_heads)
    per_layer = attn + 3 * D * F + 2 * D
    emb = self.vocab_size * D * (1 if self.tie_embeddings else 2)
    return self.num_layers * per_layer + emb + D


class KVCache(NamedTuple):
  """Keys/values for every layer plus which slots hold real tokens.

  k_LxBxKxSxH, v_LxBxKxSxH: post-RoPE keys and values, heads before slots: the layout the
    decode attention's batched matmuls read directly (slots first made XLA transpose every
    layer's cache on every decode step, most of a small model's decode time on CPU).
  mask_BxS: True where a slot holds a real (non-padding) token.
  index: int32 scalar, the next slot to write (shared by all rows).
  """
  k: Array
  v: Array
  mask: Array
  index: Array


def init_cache(config: ModelConfig, batch_size: int, max_len: int, dtype=None) -> KVCache:
  """An empty cache of `max_len` slots (prompt + generated tokens)."""
  dtype = jnp.dtype(dtype or config.dtype)
  shape = (config.num_layers, batch_size, config.num_kv_heads, max_len, config.head_dim)
  return KVCache(k=jnp.zeros(shape, dtype), v=jnp.zeros(shape, dtype),
                 mask=jnp.zeros((batch_size, max_len), bool), index=jnp.zeros((), jnp.int32))


def rope_inv_freq(config: ModelConfig) -> Array:
  """Inverse frequencies [H/2], with Llama-3 scaling when configured (float32 on the host)."""
  H = config.head_dim
  inv = 1.0 / (config.rope_theta ** (jnp.arange(0, H, 2, dtype=jnp.float32) / H))
  s = config.rope_scaling
  if s is None:
    return inv
  # Long wavelengths are divided by `factor`, short ones kept, a smooth blend in between.
  low_wavelen = s.original_max_position_embeddings / s.low_freq_factor
  high_wavelen = s.original_max_position_embeddings / s.high_freq_factor
  wavelen = 2 * jnp.pi / inv
  smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) / (
      s.high_freq_factor - s.low_freq_factor)
  blended = (1 - smooth) * inv / s.factor + smooth * inv
  out = jnp.where(wavelen > low_wavelen, inv / s.factor, inv)
  mid = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
  return jnp.where(mid, blended, out)


def apply_rope(x_BxTxNxH: Array, positions_BxT: Array, inv_freq: Array) -> Array:
  """Rotary embedding, 'rotate_half' layout (HF Llama/Qwen2), computed in float32."""
  angles_BxTxH2 = positions_BxT.astype(jnp.float32)[..., None] * inv_freq
  cos = jnp.cos(angles_BxTxH2)[:, :, None, :]
  sin = jnp.sin(angles_BxTxH2)[:, :, None, :]
  x = x_BxTxNxH.astype(jnp.float32)
  x1, x2 = jnp.split(x, 2, axis=-1)
  out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
  return out.astype(x_BxTxNxH.dtype)


class RMSNorm(nn.Module):
  eps: float
  param_dtype: Any
  dtype: Any

  @nn.compact
  def __call__(self, x_BxTxD):
    scale = self.param("scale", nn.with_logical_partitioning(nn.initializers.ones, ("norm",)),
                       (x_BxTxD.shape[-1],), self.param_dtype)
    x = x_BxTxD.astype(jnp.float32)
    x = x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + self.eps)
    return (x * scale.astype(jnp.float32)).astype(self.dtype)


class Proj(nn.Module):
  """A kernel contracted over the input's last axis, with optional bias (einsum-based)."""
  out_shape: tuple[int, ...]
  in_axes: int  # How many trailing input axes are contracted.
  kernel_axes: tuple[str, ...]
  bias_axes: tuple[str, ...] | None
  param_dtype: Any
  dtype: Any

  @nn.compact
  def __call__(self, x):
    in_shape = x.shape[-self.in_axes:]
    fan_in = 1
    for s in in_shape:
      fan_in *= s
    init = nn.initializers.normal(stddev=fan_in ** -0.5)
    kernel = self.param("kernel", nn.with_logical_partitioning(init, self.kernel_axes),
                        in_shape + self.out_shape, self.param_dtype)
    letters = "abcdefgh"
    xs = "BT" + letters[:self.in_axes]
    ks = letters[:self.in_axes] + "wxyz"[:len(self.out_shape)]
    os_ = "BT" + "wxyz"[:len(self.out_shape)]
    y = jnp.einsum(f"{xs},{ks}->{os_}", x.astype(self.dtype), kernel.astype(self.dtype))
    if self.bias_axes is not None:
      bias = self.param("bias", nn.with_logical_partitioning(nn.initializers.zeros,
                                                             self.bias_axes),
                        self.out_shape, self.param_dtype)
      y = y + bias.astype(self.dtype)
    return y


class Block(nn.Module):
  """Pre-norm attention + SwiGLU MLP; scanned over layers (carry x, scan over the cache).

  Returns the new keys/values when `write_kv` (to be written into the cache by the caller);
  reads `layer_cache` (decode) when given, with the dense kernel.
  """
  config: ModelConfig
  impl: str  # A resolved attention kernel: dense, xla or cudnn.
  write_kv: bool

  @nn.compact
  def __call__(self, x_BxTxD, layer_cache, positions_BxT, mask: attn_lib.SelfMask,
               cache_mask_BxS):
    c = self.config
    pdt, dt = jnp.dtype(c.param_dtype), jnp.dtype(c.dtype)

    h = RMSNorm(c.rms_norm_eps, pdt, dt, name="attn_norm")(x_BxTxD)
    with jax.named_scope("attn"):
      attn = _AttnParams(c, name="attn")
      q = attn.q_proj(h)
      k = attn.k_proj(h)
      v = attn.v_proj(h)
      inv_freq = rope_inv_freq(c)
      q = apply_rope(q, positions_BxT, inv_freq)
      k = apply_rope(k, positions_BxT, inv_freq)
      if layer_cache is not None:
        k_cache = nn.with_logical_constraint(layer_cache[0], (
            "cache_batch", "cache_kv_heads", "cache_length", "head_dim"))
        v_cache = nn.with_logical_constraint(layer_cache[1], (
            "cache_batch", "cache_kv_heads", "cache_length", "head_dim"))
        o = attn_lib.dense_attention(q, k, v, mask.dense_BxTxT, dt, k_cache, v_cache,
                                     cache_mask_BxS)
      elif self.impl == "dense":
        o = attn_lib.dense_attention(q, k, v, mask.dense_BxTxT, dt)
      else:
        o = attn_lib.fused_attention(q, k, v, mask, self.impl)
      new_kv = (k, v) if self.write_kv else None
      x_BxTxD = x_BxTxD + attn.o_proj(o)
    x_BxTxD = nn.with_logical_constraint(x_BxTxD, ("activation_batch", "activation_length",
                                                   "activation_embed"))

    h = RMSNorm(c.rms_norm_eps, pdt, dt, name="mlp_norm")(x_BxTxD)
    with jax.named_scope("mlp"):
      mlp = _MlpParams(c, name="mlp")
      gate = mlp.gate_proj(h)
      up = mlp.up_proj(h)
      x_BxTxD = x_BxTxD + mlp.down_proj(nn.silu(gate) * up)
    x_BxTxD = nn.with_logical_constraint(x_BxTxD, ("activation_batch", "activation_length",
                                                   "activation_embed"))
    return x_BxTxD, new_kv


class _AttnParams(nn.Module):
  """Holds q/k/v/o projections so their params live under 'attn' (HF-like names)."""
  config: ModelConfig

  def setup(self):
    c = self.config
    pdt, dt = jnp.dtype(c.param_dtype), jnp.dtype(c.dtype)
    N, K, H, D = c.num_heads, c.num_kv_heads, c.head_dim, c.d_model
    b = c.qkv_bias
    self.q_proj = Proj((N, H), 1, ("embed", "heads", "head_dim"),
                       ("heads", "head_dim") if b else None, pdt, dt)
    self.k_proj = Proj((K, H), 1, ("embed", "kv_heads", "head_dim"),
                       ("kv_heads", "head_dim") if b else None, pdt, dt)
    self.v_proj = Proj((K, H), 1, ("embed", "kv_heads", "head_dim"),
                       ("kv_heads", "head_dim") if b else None, pdt, dt)
    self.o_proj = Proj((D,), 2, ("heads", "head_dim", "embed"), None, pdt, dt)


class _MlpParams(nn.Module):
  config: ModelConfig

  def setup(self):
    c = self.config
    pdt, dt = jnp.dtype(c.param_dtype), jnp.dtype(c.dtype)
    self.gate_proj = Proj((c.mlp_dim,), 1, ("embed", "mlp"), None, pdt, dt)
    self.up_proj = Proj((c.mlp_dim,), 1, ("embed", "mlp"), None, pdt, dt)
    self.down_proj = Proj((c.d_model,), 1, ("mlp", "embed"), None, pdt, dt)


class Embed(nn.Module):
  """Token embedding; `attend` gives tied output logits."""
  vocab_size: int
  d_model: int
  param_dtype: Any
  dtype: Any

  def setup(self):
    self.embedding = self.param(
        "embedding", nn.with_logical_partitioning(
            nn.initializers.normal(stddev=self.d_model ** -0.5), ("vocab", "embed")),
        (self.vocab_size, self.d_model), self.param_dtype)

  def __call__(self, tokens_BxT):
    # Under a mesh (default rules) the table is split over vocab (tensor) and embed (fsdp). A
    # gather from that layout yields rows split over embed, which XLA cannot turn into
    # batch-split activations except by replicating them ("involuntary full
    # rematerialization"). Gathering the embed axis first (the all-gather FSDP does for every
    # weight) leaves a vocab-split lookup, which XLA does as a masked local gather plus an
    # all-reduce of the [B, T, D] rows over 'tensor': far cheaper than a one-hot matmul
    # (2 B T V D FLOPs) or replicating the whole table on every device.
    table_VxD = nn.with_logical_constraint(self.embedding, ("vocab", None))
    return jnp.take(table_VxD, tokens_BxT, axis=0).astype(self.dtype)

  def attend(self, x_BxTxD):
    return jnp.einsum("btd,vd->btv", x_BxTxD, self.embedding.astype(self.dtype),
                      preferred_element_type=jnp.float32)


class Transformer(nn.Module):
  """Decoder-only LM. See the module docstring for the three call modes."""
  config: ModelConfig

  @nn.compact
  def __call__(self, tokens_BxT, positions_BxT=None, segment_ids_BxT=None,
               cache: KVCache | None = None, return_hidden: bool = False,
               prefill: bool = False, single_segment: bool = False):
    """Returns logits_BxTxV (float32); with a cache, (logits, new_cache).

    tokens_BxT: int ids. positions_BxT: RoPE positions (default: arange, offset by the cache
    index when decoding). segment_ids_BxT: 0 marks padding; tokens attend only within their
    own segment (packing) and to real cache slots. With `return_hidden`, the final normed
    hidden states hidden_BxTxD come first: (hidden, logits[, cache]) (value heads read them).
    prefill: the cache is empty (index 0): it is written at slots [0, T), never read.
    single_segment: the caller promises that each row's real tokens form one contiguous run
    of one segment (left and/or right padding, no packing), which lets the fused kernels
    (xla, cudnn) use a plain causal mask; see models/attention.py. Outputs at padding
    positions are then arbitrary (finite); the dense kernel ignores the flag.
    """
    c = self.config
    pdt, dt = jnp.dtype(c.param_dtype), jnp.dtype(c.dtype)
    B, T = tokens_BxT.shape
    if prefill and cache is None:
      raise ValueError("Transformer: prefill=True needs the cache to write into")
    impl = attn_lib.resolve_impl(c.attention_impl, dt, c.head_dim)
    decoding = cache is not None and not prefill
    start = jnp.zeros((), jnp.int32) if not decoding else cache.index
    if positions_BxT is None:
      positions_BxT = jnp.broadcast_to(start + jnp.arange(T, dtype=jnp.int32), (B, T))

    # Decoding reads the cache, which only the dense kernel does; everything else attends
    # among the T new tokens alone (causal, same segment, real keys only).
    mask = attn_lib.self_mask("dense" if decoding else impl, segment_ids_BxT, T,
                              single_segment)
    # Attention to earlier tokens in the cache: every real slot written before `start`.
    cache_mask_BxS = cache.mask if decoding else None

    embed = Embed(c.vocab_size, c.d_model, pdt, dt, name="embed")
    x_BxTxD = embed(tokens_BxT)
    x_BxTxD = nn.with_logical_constraint(x_BxTxD, ("activation_batch", "activation_length",
                                                   "activation_embed"))

    block_cls = Block
    if c.remat_policy != "none":
      # prevent_cse=False is safe under scan and avoids needless recomputation barriers.
      block_cls = nn.remat(Block, policy=REMAT_POLICIES[c.remat_policy], prevent_cse=False)
    scan = nn.scan(
        block_cls,
        variable_axes={"params": 0},
        split_rngs={"params": True},
        in_axes=(0, nn.broadcast, nn.broadcast, nn.broadcast),
        out_axes=0,
        length=c.num_layers,
        metadata_params={nn.PARTITION_NAME: "layers"},
    )
    layer_caches = (cache.k, cache.v) if decoding else None
    x_BxTxD, new_kv = scan(c, impl, cache is not None, name="layers")(
        x_BxTxD, layer_caches, positions_BxT, mask, cache_mask_BxS)

    hidden_BxTxD = RMSNorm(c.rms_norm_eps, pdt, dt, name="final_norm")(x_BxTxD)
    if c.tie_embeddings:
      logits = embed.attend(hidden_BxTxD)
    else:
      logits = Proj((c.vocab_size,), 1, ("embed", "vocab"), None, pdt, dt,
                    name="lm_head")(hidden_BxTxD).astype(jnp.float32)
    logits_BxTxV = nn.with_logical_constraint(
        logits, ("activation_batch", "activation_length", "activation_vocab"))

    out = (logits_BxTxV,)
    if return_hidden:
      out = (hidden_BxTxD,) + out
    if cache is not None:
      # One in-place write of every layer's new keys/values at slots [start, start + T).
      new_k_LxBxTxKxH, new_v_LxBxTxKxH = new_kv
      write = lambda buf, x: jax.lax.dynamic_update_slice_in_dim(
          buf, jnp.swapaxes(x, 2, 3).astype(buf.dtype), start, axis=3)
      valid_BxT = (jnp.ones((B, T), bool) if segment_ids_BxT is None
                   else segment_ids_BxT != 0)
      new_cache = KVCache(k=write(cache.k, new_k_LxBxTxKxH), v=write(cache.v, new_v_LxBxTxKxH),
                          mask=jax.lax.dynamic_update_slice_in_dim(cache.mask, valid_BxT,
                                                                   start, axis=1),
                          index=start + T)
      out = out + (new_cache,)
    return out[0] if len(out) == 1 else out
