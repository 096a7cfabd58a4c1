"""Transformer: public API, KV-cache exactness, padding/packing, remat, scan compile time."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax.models import presets
from r1jax.models.transformer import (ModelConfig, Transformer, init_cache, unstack_cache,
                                      unstack_layer_params)
from r1jax.models import params as params_lib

# float32 on CPU: cached and uncached paths differ only by summation order.
F32_ATOL = 2e-5
# bf16 compute: activations carry ~3 significant digits; logits are O(1).
BF16_ATOL = 6e-2


def _cfg(**kw):
  return presets.get("tiny", **kw)


def _params(cfg, seed=0):
  return params_lib.init_params(cfg, jax.random.key(seed))


def test_public_api_shapes():
  cfg = _cfg()
  params = _params(cfg)
  tokens_BxT = jnp.arange(14, dtype=jnp.int32).reshape(2, 7)
  logits = Transformer(cfg).apply({"params": params}, tokens_BxT)
  assert logits.shape == (2, 7, cfg.vocab_size) and logits.dtype == jnp.float32
  assert np.isfinite(np.asarray(logits)).all()


def test_causal_no_future_leak():
  cfg = _cfg()
  params = _params(cfg)
  a = jnp.array([[5, 6, 7, 8, 9]])
  b = jnp.array([[5, 6, 7, 40, 41]])
  la = Transformer(cfg).apply({"params": params}, a)
  lb = Transformer(cfg).apply({"params": params}, b)
  np.testing.assert_allclose(la[:, :3], lb[:, :3], atol=F32_ATOL)
  assert np.abs(np.asarray(la[:, 3:] - lb[:, 3:])).max() > 1e-3


def _left_pad(seqs, pad=0):
  P = max(len(s) for s in seqs)
  toks = np.full((len(seqs), P), pad, np.int32)
  mask = np.zeros((len(seqs), P), bool)
  for i, s in enumerate(seqs):
    toks[i, P - len(s):] = s
    mask[i, P - len(s):] = True
  return toks, mask


def _incremental_logits(cfg, params, seqs, prompt_lens, prefill=False, per_layer=False):
  """Prefill each row's prompt (left-padded), then decode the rest one token at a time.

  prefill=False writes the prompt as a multi-token decode step against the empty cache.
  per_layer: the sampler's decode form (one cache buffer and one params tree per layer).
  """
  model = Transformer(cfg)
  prompts = [s[:p] for s, p in zip(seqs, prompt_lens)]
  toks, mask = _left_pad(prompts)
  P = toks.shape[1]
  n_new = max(len(s) - p for s, p in zip(seqs, prompt_lens))
  cache = init_cache(cfg, len(seqs), P + n_new)
  pos = np.maximum(np.cumsum(mask, 1) - 1, 0).astype(np.int32)
  apply = jax.jit(lambda p, t, pos, seg, c: model.apply({"params": p}, t, pos, seg, cache=c))
  first = jax.jit(lambda p, t, pos, seg, c: model.apply(
      {"params": p}, t, pos, seg, cache=c, prefill=prefill, single_segment=prefill))
  logits, cache = first(params, toks, pos, mask.astype(np.int32), cache)
  out = [[np.asarray(logits[i, P - prompt_lens[i]:])] for i in range(len(seqs))]
  if per_layer:
    cache, params = unstack_cache(cache), unstack_layer_params(params)
  for t in range(n_new):
    step_toks = np.array([[s[p + t] if p + t < len(s) else 0]
                          for s, p in zip(seqs, prompt_lens)], np.int32)
    step_valid = np.array([[p + t < len(s)] for s, p in zip(seqs, prompt_lens)], np.int32)
    step_pos = np.array([[p + t] for p in prompt_lens], np.int32)
    logits, cache = apply(params, step_toks, step_pos, step_valid, cache)
    for i, (s, p) in enumerate(zip(seqs, prompt_lens)):
      if p + t < len(s):
        out[i].append(np.asarray(logits[i]))
  return [np.concatenate(o, 0) for o in out]


@pytest.mark.parametrize("kv_heads", [2, 4])  # GQA and MHA
@pytest.mark.parametrize("dtype,atol", [("float32", F32_ATOL), ("bfloat16", BF16_ATOL)])
def test_incremental_decode_matches_full_forward(kv_heads, dtype, atol):
  cfg = _cfg(num_kv_heads=kv_heads, dtype=dtype, qkv_bias=True)
  params = _params(cfg)
  rng = np.random.default_rng(0)
  seqs = [list(rng.integers(3, cfg.vocab_size, n)) for n in (9, 12, 6)]
  prompt_lens = [3, 7, 5]  # Different prompt lengths -> different left padding.
  inc = _incremental_logits(cfg, params, seqs, prompt_lens)
  # Reference: the uncached full forward of each sequence alone, in the same dtype, so the
  # comparison isolates the cache/padding logic from bf16 rounding of the model itself.
  for s, got in zip(seqs, inc):
    ref = Transformer(cfg).apply({"params": params}, jnp.array([s]))[0]
    np.testing.assert_allclose(got, np.asarray(ref), atol=atol, rtol=0)


def test_per_layer_decode_equals_the_stacked_decode():
  # The sampler decodes with per-layer caches and params (no slices of the stacks per step);
  # it must be the same computation as the stacked form, and it must leave the same cache.
  cfg = _cfg(num_kv_heads=2, qkv_bias=True)
  params = _params(cfg)
  rng = np.random.default_rng(3)
  seqs = [list(rng.integers(3, cfg.vocab_size, n)) for n in (9, 12, 6)]
  stacked = _incremental_logits(cfg, params, seqs, [3, 7, 5])
  per_layer = _incremental_logits(cfg, params, seqs, [3, 7, 5], per_layer=True)
  for a, b in zip(stacked, per_layer):
    np.testing.assert_allclose(b, a, atol=1e-6, rtol=0)
  for s, got in zip(seqs, per_layer):  # And both equal the uncached forward.
    ref = Transformer(cfg).apply({"params": params}, jnp.array([s]))[0]
    np.testing.assert_allclose(got, np.asarray(ref), atol=F32_ATOL, rtol=0)
  # Two decode steps from one prefilled cache, in both forms: the written caches agree.
  model = Transformer(cfg)
  toks = jnp.asarray(rng.integers(3, cfg.vocab_size, (2, 4)), jnp.int32)
  _, c0 = model.apply({"params": params}, toks, cache=init_cache(cfg, 2, 7), prefill=True)
  step = lambda p, c, t: model.apply({"params": p}, jnp.full((2, 1), t, jnp.int32), cache=c)
  la, ca = step(params, c0, 5)
  lb, cb = step(unstack_layer_params(params), unstack_cache(c0), 5)
  la, ca = step(params, ca, 9)
  lb, cb = step(unstack_layer_params(params), cb, 9)
  np.testing.assert_allclose(lb, la, atol=1e-6, rtol=0)
  assert isinstance(cb.k, tuple) and len(cb.k) == cfg.num_layers
  np.testing.assert_allclose(jnp.stack(cb.k), ca.k, atol=1e-6, rtol=0)
  np.testing.assert_allclose(jnp.stack(cb.v), ca.v, atol=1e-6, rtol=0)
  np.testing.assert_array_equal(cb.mask, ca.mask)
  assert int(cb.index) == int(ca.index) == 6
  # The two new slots were written (the empty cache holds zeros); later slots are untouched.
  assert float(jnp.abs(ca.k[:, :, :, 4:6]).max()) > 0
  np.testing.assert_array_equal(ca.k[:, :, :, 6:], 0)


def test_decoding_with_uninitialized_params_is_a_clear_error():
  cfg = _cfg()
  with pytest.raises(ValueError, match="decoding needs the initialized params"):
    Transformer(cfg).init(jax.random.key(0), jnp.zeros((1, 1), jnp.int32),
                          cache=init_cache(cfg, 1, 4))


# Segment ids (0 = padding) of rows of 8 tokens, and the `single_segment` promise they allow.
_LAYOUTS = {
    "causal": (None, False),
    "packed": ([[1, 1, 1, 2, 2, 2, 2, 0], [1, 1, 2, 2, 3, 3, 3, 3]], False),
    # Left, right and both-sides padding: one contiguous run per row.
    "padded": ([[0, 0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 1, 0, 0],
                [1, 1, 1, 1, 1, 1, 1, 1]], True),
}


@pytest.mark.parametrize("layout,kv_heads", [("causal", 2), ("packed", 4), ("padded", 2)])
def test_xla_attention_matches_dense_logits_and_grads(layout, kv_heads):
  seg_ids, single = _LAYOUTS[layout]
  dense = _cfg(num_kv_heads=kv_heads, qkv_bias=True, attention_impl="dense")
  params = _params(dense)
  B = 2 if seg_ids is None else len(seg_ids)
  toks = jnp.asarray(np.random.default_rng(1).integers(3, dense.vocab_size, (B, 8)), jnp.int32)
  seg = None if seg_ids is None else jnp.asarray(seg_ids, jnp.int32)
  real = np.ones((B, 8), bool) if seg is None else np.asarray(seg) != 0

  def loss(p, cfg):  # Padding outputs are unspecified under single_segment: never read.
    logits = Transformer(cfg).apply({"params": p}, toks, None, seg, single_segment=single)
    return jnp.sum(jnp.where(real[..., None], logits, 0.0) ** 2) / real.sum(), logits

  grad = jax.jit(jax.value_and_grad(loss, has_aux=True), static_argnums=1)
  (l0, logits0), g0 = grad(params, dense)
  (l1, logits1), g1 = grad(params, dataclasses.replace(dense, attention_impl="xla"))
  np.testing.assert_allclose(np.asarray(logits1)[real], np.asarray(logits0)[real],
                             atol=F32_ATOL, rtol=0)
  np.testing.assert_allclose(l1, l0, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g0)):
    np.testing.assert_allclose(a, b, atol=F32_ATOL, rtol=0)


def test_xla_prefill_then_dense_decode_matches_full_forward():
  # The sampler's way: prefill=True over left-padded prompts (single_segment), then decode.
  kv_heads = 2  # GQA; every mask form with MQA/GQA/MHA: tests/models_attention_test.py.
  cfg = _cfg(num_kv_heads=kv_heads, attention_impl="xla")
  params = _params(cfg)
  rng = np.random.default_rng(0)
  seqs = [list(rng.integers(3, cfg.vocab_size, n)) for n in (9, 12, 6)]
  inc = _incremental_logits(cfg, params, seqs, [3, 7, 5], prefill=True)
  for s, got in zip(seqs, inc):
    ref = Transformer(_cfg(num_kv_heads=kv_heads, attention_impl="dense")).apply(
        {"params": params}, jnp.array([s]))[0]
    np.testing.assert_allclose(got, np.asarray(ref), atol=F32_ATOL, rtol=0)


def test_prefill_does_not_read_the_cache():
  cfg = _cfg()
  params = _params(cfg)
  toks = jnp.array([[5, 6, 7, 8]])
  clean = init_cache(cfg, 1, 6)
  # Garbage in every slot and a mask claiming they are real: prefill must ignore both.
  dirty = clean._replace(k=clean.k + 3.0, v=clean.v - 2.0, mask=jnp.ones_like(clean.mask))
  apply = lambda c: Transformer(cfg).apply({"params": params}, toks, cache=c, prefill=True)
  (logits_a, cache_a), (logits_b, cache_b) = apply(clean), apply(dirty)
  np.testing.assert_array_equal(logits_a, logits_b)
  np.testing.assert_array_equal(cache_a.k[:, :, :, :4], cache_b.k[:, :, :, :4])
  assert int(cache_a.index) == 4 and cache_a.mask.tolist() == [[True] * 4 + [False] * 2]


def test_cudnn_off_gpu_is_a_clear_error():
  cfg = _cfg(attention_impl="cudnn", dtype="bfloat16")
  with pytest.raises(ValueError, match=r"attention_impl='cudnn' needs an NVIDIA GPU"):
    Transformer(cfg).init(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))


def test_right_padding_and_packing_match_separate_sequences():
  cfg = _cfg()
  params = _params(cfg)
  model = Transformer(cfg)
  a, b = [4, 9, 11, 20, 7], [30, 31, 32]
  ref_a = model.apply({"params": params}, jnp.array([a]))[0]
  ref_b = model.apply({"params": params}, jnp.array([b]))[0]
  # Right padded batch.
  toks = jnp.array([a, b + [0, 0]])
  seg = jnp.array([[1] * 5, [1, 1, 1, 0, 0]])
  out = model.apply({"params": params}, toks, segment_ids_BxT=seg)
  np.testing.assert_allclose(out[0], ref_a, atol=F32_ATOL)
  np.testing.assert_allclose(out[1, :3], ref_b, atol=F32_ATOL)
  # Packed: both sequences in one row, positions restart per segment.
  packed = jnp.array([a + b])
  seg = jnp.array([[1] * 5 + [2] * 3])
  pos = jnp.array([list(range(5)) + list(range(3))])
  out = model.apply({"params": params}, packed, pos, seg)[0]
  np.testing.assert_allclose(out[:5], ref_a, atol=F32_ATOL)
  np.testing.assert_allclose(out[5:], ref_b, atol=F32_ATOL)


def test_return_hidden_and_tied_embeddings():
  cfg = _cfg(tie_embeddings=True)
  params = _params(cfg)
  assert "lm_head" not in params
  toks = jnp.array([[1, 2, 3]])
  hidden, logits = Transformer(cfg).apply({"params": params}, toks, return_hidden=True)
  assert hidden.shape == (1, 3, cfg.d_model)
  ref = np.einsum("btd,vd->btv", np.asarray(hidden, np.float64),
                  np.asarray(params["embed"]["embedding"], np.float64))
  np.testing.assert_allclose(logits, ref, atol=1e-4)


def test_bf16_compute_with_fp32_params():
  cfg = _cfg(dtype="bfloat16", param_dtype="float32")
  params = _params(cfg)
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(params))
  logits = Transformer(cfg).apply({"params": params}, jnp.array([[1, 2, 3]]))
  assert logits.dtype == jnp.float32 and np.isfinite(np.asarray(logits)).all()


@pytest.mark.parametrize("policy", ["full", "dots"])
def test_remat_does_not_change_values_or_grads(policy):
  base = _cfg()
  params = _params(base)
  toks = jnp.array([[3, 4, 5, 6, 7, 8]])

  def loss(p, cfg):
    return jnp.mean(Transformer(cfg).apply({"params": p}, toks) ** 2)

  l0, g0 = jax.value_and_grad(loss)(params, base)
  l1, g1 = jax.value_and_grad(loss)(params, _cfg(remat_policy=policy))
  np.testing.assert_allclose(l0, l1, rtol=1e-6)
  for x, y in zip(jax.tree.leaves(g0), jax.tree.leaves(g1)):
    np.testing.assert_allclose(x, y, atol=1e-6)


def _program_ops(num_layers) -> int:
  """Instructions in the optimised HLO of a gradient step: what compile time scales with."""
  cfg = _cfg(num_layers=num_layers)
  abstract = jax.eval_shape(lambda: params_lib.init_params(cfg, jax.random.key(0)))
  toks = jax.ShapeDtypeStruct((2, 32), jnp.int32)

  def loss(p, t):
    return jnp.mean(Transformer(cfg).apply({"params": p}, t))

  hlo = jax.jit(jax.value_and_grad(loss)).lower(abstract, toks).compile().as_text()
  return sum(1 for line in hlo.splitlines() if " = " in line)


def test_scan_keeps_the_program_flat_in_depth():
  """nn.scan compiles one layer body for any depth: 24 layers give the same program size as 2
  (an unrolled stack would grow ~12x). Counted, not timed: a timing would be flaky."""
  ops2, ops24 = _program_ops(2), _program_ops(24)
  assert ops24 <= 1.1 * ops2, (ops2, ops24)


@pytest.mark.parametrize("field,kw", [
    ("num_kv_heads", dict(num_heads=4, num_kv_heads=3)),
    ("head_dim", dict(head_dim=15)),
    ("d_model", dict(d_model=0)),
    ("dtype", dict(dtype="float64")),
    ("remat_policy", dict(remat_policy="everything")),
    ("attention_impl", dict(attention_impl="flash")),
])
def test_invalid_config_names_field(field, kw):
  with pytest.raises(ValueError, match=field):
    _cfg(**kw)


def test_model_config_is_frozen_and_hashable():
  cfg = _cfg()
  with pytest.raises(dataclasses.FrozenInstanceError):
    cfg.d_model = 3
  assert hash(cfg) == hash(_cfg())
  assert isinstance(cfg, ModelConfig)
