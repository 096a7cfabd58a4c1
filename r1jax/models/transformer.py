"""A Llama/Qwen2-family decoder in Flax linen, with one forward pass for train/prefill/decode.

Shape legend:
  B batch, T query length, S cache length (slots), L layers, D d_model, N query heads,
  K kv heads (GQA: N % K == 0, G = N // K), H head_dim, F mlp width, V vocab.

The same `Transformer.__call__` serves three uses:
  * training: `apply({'params': p}, tokens_BxT)` -> logits_BxTxV (causal, same-segment mask);
  * prefill:  `apply(..., tokens_BxT, positions_BxT, segment_ids_BxT, cache=init_cache(...),
              prefill=True)` -> (logits_BxTxV, cache) with the prompt's keys/values written at
              slots [0, T); the empty cache is not read, so this costs O(T^2), not O(T (S + T));
  * decode:   the same call with T = 1 (or a few tokens) writes at slots [index, index + T),
              then attends over the cache; the layers run unrolled, not scanned, so that a
              per-layer cache (`unstack_cache`) and per-layer params (`unstack_layer_params`),
              the sampler's decode-loop form, are read in place rather than sliced per step.
Attention kernels (dense reference, XLA or cuDNN flash attention) live in models/attention.py;
decoding always uses the dense maths, the only kernel that reads the cache.
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

  k, v: post-RoPE keys and values, heads before slots: the layout the decode attention reads
    directly (slots first made XLA transpose every layer's cache on every decode step, most of
    a small model's decode time on CPU). Either one stacked array k_LxBxKxSxH (what
    `init_cache` and prefill give), or a tuple of L arrays k_BxKxSxH (`unstack_cache`): the
    decode loop's form, in which each layer reads and writes its own buffer in place instead
    of a slice copied out of the stack on every step.
  mask_BxS: True where a slot holds a real (non-padding) token.
  index: int32 scalar, the next slot to write (shared by all rows).
  """
  k: Array | tuple[Array, ...]
  v: Array | tuple[Array, ...]
  mask: Array
  index: Array


def init_cache(config: ModelConfig, batch_size: int, max_len: int, dtype=None) -> KVCache:
  """An empty cache of `max_len` slots (prompt + generated tokens)."""
  dtype = jnp.dtype(dtype or config.dtype)
  shape = (config.num_layers, batch_size, config.num_kv_heads, max_len, config.head_dim)
  return KVCache(k=jnp.zeros(shape, dtype), v=jnp.zeros(shape, dtype),
                 mask=jnp.zeros((batch_size, max_len), bool), index=jnp.zeros((), jnp.int32))


def unstack_cache(cache: KVCache) -> KVCache:
  """The per-layer form of a stacked cache (one copy; a no-op if already per-layer)."""
  if isinstance(cache.k, tuple):
    return cache
  L = cache.k.shape[0]
  return cache._replace(k=tuple(cache.k[i] for i in range(L)),
                        v=tuple(cache.v[i] for i in range(L)))


def unstack_layer_params(params):
  """`params` with the scanned blocks' stacked weights split into a tuple of L layers' trees.

  For a decode loop: the decode pass reads either form, but slicing the stacks happens on
  every step inside the loop (XLA does not hoist slices out of it), while this split happens
  once, before it. Only decoding (`apply` with a cache, not prefill) accepts this form.
  """
  layers = nn.meta.unbox(params["layers"])
  L = jax.tree.leaves(layers)[0].shape[0]
  return {**params, "layers": tuple(jax.tree.map(lambda a, i=i: a[i], layers)
                                    for i in range(L))}


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
  """Pre-norm attention + SwiGLU MLP; scanned over layers for training and prefill.

  Returns (x, new_kv). Without `decode`: new_kv is the new keys/values when `write_kv` (the
  caller writes them into the cache), else None. With `decode` = (start, mask_BxTxS), the
  block writes its keys/values into `layer_cache` = (k_BxKxSxH, v_BxKxSxH) at slots
  [start, start + T), attends over it with the dense kernel, and returns the written buffers.
  """
  config: ModelConfig
  impl: str  # A resolved attention kernel: dense, xla or cudnn.
  write_kv: bool

  @nn.compact
  def __call__(self, x_BxTxD, layer_cache, positions_BxT, mask: attn_lib.SelfMask, decode):
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
      new_kv = (k, v) if self.write_kv else None
      if decode is not None:
        start, mask_BxTxS = decode
        axes = ("cache_batch", "cache_kv_heads", "cache_length", "head_dim")
        k_cache, v_cache = (nn.with_logical_constraint(_write_cache(buf, x, start), axes)
                            for buf, x in zip(layer_cache, (k, v)))
        o = attn_lib.cache_attention(q, k_cache, v_cache, mask_BxTxS, dt)
        new_kv = (k_cache, v_cache)
      elif self.impl == "dense":
        o = attn_lib.dense_attention(q, k, v, mask.dense_BxTxT, dt)
      else:
        o = attn_lib.fused_attention(q, k, v, mask, self.impl)
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
    valid_BxT = (jnp.ones((B, T), bool) if segment_ids_BxT is None
                 else segment_ids_BxT != 0)

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
    if decoding:
      # The layers unrolled, each with its own cache buffer written in place. Under the scan,
      # every decode step copied each layer's cache (and weights) out of the stacks, which
      # cost more than the attention's own read of the cache.
      if "layers" not in self.variables.get("params", {}):
        raise ValueError("Transformer: decoding needs the initialized params (apply, not init)")
      # Each new token sees the real slots before `start` and, causally, the new tokens'
      # own slots [start, start + T), which the blocks write before they attend.
      S = cache.mask.shape[1]
      seen_BxTxS = jax.lax.dynamic_update_slice(
          jnp.broadcast_to(cache.mask[:, None, :], (B, T, S)),
          jnp.broadcast_to(mask.dense_BxTxT, (B, T, T)), (0, 0, start))
      x_BxTxD, new_kv = _decode_layers(c, self.variables["params"]["layers"], x_BxTxD,
                                       cache, positions_BxT, mask, (start, seen_BxTxS))
    else:
      x_BxTxD, new_kv = scan(c, impl, cache is not None, name="layers")(
          x_BxTxD, None, positions_BxT, mask, None)

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
      if decoding:  # The blocks wrote their buffers (see _decode_layers).
        new_k, new_v = new_kv
      else:  # One in-place write of every layer's new keys/values at [start, start + T).
        new_k, new_v = (_write_cache(buf, x, start) for buf, x in zip((cache.k, cache.v), new_kv))
      new_cache = KVCache(k=new_k, v=new_v,
                          mask=jax.lax.dynamic_update_slice_in_dim(cache.mask, valid_BxT,
                                                                   start, axis=1),
                          index=start + T)
      out = out + (new_cache,)
    return out[0] if len(out) == 1 else out


def _decode_layers(c: ModelConfig, layers_params, x_BxTxD, cache: KVCache, positions_BxT,
                   mask: attn_lib.SelfMask, decode):
  """The decode pass through the L blocks, unrolled: -> (x_BxTxD, (k's, v's) written).

  layers_params: the scanned blocks' params, stacked on a leading L axis, or a tuple of L
  layers' params (`unstack_layer_params`). The cache may be
  stacked (the written buffers come back stacked: a copy, fine outside the sampler's loop) or
  per-layer (each buffer read and written in place).
  """
  layers_params = nn.meta.unbox(layers_params)
  block = Block(c, "dense", True, parent=None)
  ks, vs = [], []
  for i in range(c.num_layers):
    with jax.named_scope(f"layer_{i}"):
      p_i = (layers_params[i] if isinstance(layers_params, tuple)
             else jax.tree.map(lambda a, i=i: a[i], layers_params))
      x_BxTxD, (k_BxKxSxH, v_BxKxSxH) = block.apply(
          {"params": p_i}, x_BxTxD, (cache.k[i], cache.v[i]), positions_BxT, mask, decode)
    ks.append(k_BxKxSxH)
    vs.append(v_BxKxSxH)
  if isinstance(cache.k, tuple):
    return x_BxTxD, (tuple(ks), tuple(vs))
  return x_BxTxD, (jnp.stack(ks), jnp.stack(vs))


def _write_cache(buf, new, start):
  """Writes new keys (or values) at slots [start, start + T) of a stacked or per-layer cache.

  buf: k_LxBxKxSxH, a tuple of L k_BxKxSxH, or one layer's k_BxKxSxH. new: k_LxBxTxKxH (the
  scan's) for the first two, k_BxTxKxH for one layer's.
  """
  if isinstance(buf, tuple):
    return tuple(_write_cache(b, new[i], start) for i, b in enumerate(buf))
  return jax.lax.dynamic_update_slice_in_dim(
      buf, jnp.swapaxes(new, -3, -2).astype(buf.dtype), start, axis=buf.ndim - 2)
