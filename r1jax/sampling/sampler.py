"""Rollout sampler: one prefill per prompt batch, then one jitted `lax.while_loop` of decode steps.

Shape legend: B prompts, P padded prompt length, n samples per prompt, N = B * n rows
(group-contiguous: row b * n + j is sample j of prompt b), T = max_new_tokens, V vocab,
S = P - 1 + T cache slots, W longest stop sequence.

How a batch flows:
  * prompts are rolled per row so the last real token sits at column P - 1 (left padding and
    right padding both work); RoPE positions are cumsum(mask) - 1;
  * `prefill` writes the first P - 1 prompt slots of a cache for B rows, which is then repeated
    to N rows (no prefill per sample);
  * each loop step feeds one token per row (step 0 feeds the last prompt token, so the first
    completion token comes out of the same code path as every other), applies the logit
    processors, samples with the key fold_in(fold_in(keys_B[b], j), step), applies the
    budget-forcing rule and the stop checks; the loop exits when every row has stopped.

Stop strings are matched here as token sequences (`stop_sequences`, tokenised by the caller);
text that tokenises differently inside a completion is cut on the host by the caller
(`stop_text.cut_output`, with the strings in `SamplerConfig.stop_strings`).
Log-probabilities: `raw_logprobs` is log softmax of the raw model logits (temperature 1, no
processors) at every emitted token, forced ones included, which is what a full forward pass
recomputes; `logprobs` is under the processed sampling distribution, and 0 for greedy rows and
forced tokens (both had probability 1 under the rule that emitted them).
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from r1jax import sharding
from r1jax.models.transformer import (KVCache, ModelConfig, Transformer, init_cache,
                                      unstack_layer_params)
from r1jax.sampling import processors as procs
# The config and stop codes live in sampling/config.py; importable from here as before.
from r1jax.sampling.config import (  # pylint: disable=unused-import
    STOP_BUDGET, STOP_EOS, STOP_LENGTH, STOP_SEQUENCE, STOP_TOKEN, SamplerConfig,
    stop_reason_name)
from r1jax.models import params as params_lib

Array = jax.Array

class SampleOutput(NamedTuple):
  """N = B * n rows, group-contiguous. Completion token t has RoPE position prompt_len + t."""
  tokens_NxT: Array  # int32, pad_id after the end
  mask_NxT: Array  # int32, 1 on generated tokens (final eos/stop token included)
  logprobs_NxT: Array  # float32, under the processed sampling distribution
  raw_logprobs_NxT: Array  # float32, log softmax of raw logits: pi_old for the RL loss
  lengths_N: Array  # int32
  stop_reason_N: Array  # int32 STOP_* code
  forced_mask_NxT: Array  # int32, 1 where budget forcing inserted the token
  num_waits_N: Array  # int32
  prompt_lengths_N: Array  # int32, real prompt tokens of each row's prompt


class _Carry(NamedTuple):
  cache: KVCache
  feed_N: Array  # token fed at this step
  state: procs.LoopState
  logprobs_NxT: Array
  raw_logprobs_NxT: Array
  forced_NxT: Array
  lengths_N: Array
  stop_reason_N: Array
  recent_NxW: Array  # last W emitted tokens, for stop sequences
  answer_tokens_N: Array


_CACHE_AXES = KVCache(k=("layers", "cache_batch", "cache_kv_heads", "cache_length", "head_dim"),
                      v=("layers", "cache_batch", "cache_kv_heads", "cache_length", "head_dim"),
                      mask=("cache_batch", "cache_length"), index=None)


def _constrain_cache(cache: KVCache) -> KVCache:
  # A no-op unless traced under sharding.activation_sharding (then: batch over data axes).
  def constrain(x, axes):
    if axes is None:
      return x
    if isinstance(x, tuple):  # Per-layer buffers: the stacked axes without "layers".
      return tuple(nn.with_logical_constraint(b, axes[1:]) for b in x)
    return nn.with_logical_constraint(x, axes)
  return KVCache(*(constrain(x, a) for x, a in zip(cache, _CACHE_AXES)))


def left_align(tokens_BxP: Array, mask_BxP: Array) -> tuple[Array, Array]:
  """Rolls each row right so its last real token is at column P - 1."""
  P_ = tokens_BxP.shape[1]
  col_P = jnp.arange(P_)
  last_B = jnp.max(jnp.where(mask_BxP, col_P, -1), axis=1)
  src_BxP = (col_P[None] - (P_ - 1 - last_B)[:, None]) % P_
  return (jnp.take_along_axis(tokens_BxP, src_BxP, axis=1),
          jnp.take_along_axis(mask_BxP, src_BxP, axis=1))


def prompt_positions(mask_BxP: Array) -> Array:
  return jnp.maximum(jnp.cumsum(mask_BxP.astype(jnp.int32), axis=1) - 1, 0)


def prefill(params, model_config: ModelConfig, tokens_BxP: Array, mask_BxP: Array,
            cache_len: int) -> KVCache:
  """A cache of `cache_len` slots holding the first P - 1 tokens of left-aligned prompts.

  The last prompt token is left to the first decode step; the prompt logits are never used,
  so XLA drops the [B, P, V] output projection. The empty cache is only written (prefill=True):
  attention runs over the P - 1 prompt tokens alone, and each left-aligned row is one run of
  real tokens after its padding (single_segment=True), which the fused kernels exploit.
  """
  B, P_ = tokens_BxP.shape
  cache = _constrain_cache(init_cache(model_config, B, cache_len))
  if P_ == 1:
    return cache
  positions_BxP = prompt_positions(mask_BxP)
  _, cache = Transformer(model_config).apply(
      {"params": params}, tokens_BxP[:, :-1], positions_BxP[:, :-1],
      mask_BxP[:, :-1].astype(jnp.int32), cache=cache, prefill=True, single_segment=True)
  return _constrain_cache(cache)


def _row_keys(keys_B: Array, n: int) -> Array:
  """Key of row b * n + j: fold_in(keys_B[b], j)."""
  fold_j = jax.vmap(jax.random.fold_in, in_axes=(None, 0))
  keys_BxN = jax.vmap(fold_j, in_axes=(0, None))(keys_B, jnp.arange(n, dtype=jnp.uint32))
  return keys_BxN.reshape((keys_B.shape[0] * n,) + keys_B.shape[1:])


def _stop_codes(token_N, carry_recent_NxW, answer_tokens_N, step, cfg: SamplerConfig):
  """(stop code per row, 0 if none; updated recent-token window)."""
  recent_NxW = jnp.concatenate([carry_recent_NxW[:, 1:], token_N[:, None]], axis=1)
  W = recent_NxW.shape[1]
  no = jnp.zeros(token_N.shape, bool)
  is_eos = token_N == cfg.eos_id if cfg.eos_id >= 0 else no
  is_tok = jnp.isin(token_N, jnp.asarray(cfg.stop_token_ids, jnp.int32)) \
      if cfg.stop_token_ids else no
  is_seq = no
  for seq in cfg.stop_sequences:
    tail = recent_NxW[:, W - len(seq):]
    is_seq = is_seq | jnp.all(tail == jnp.asarray(seq, jnp.int32), axis=1)
  is_budget = answer_tokens_N >= cfg.max_answer_tokens if cfg.max_answer_tokens else no
  is_len = jnp.broadcast_to(step >= cfg.max_new_tokens - 1, token_N.shape)
  code_N = jnp.zeros(token_N.shape, jnp.int32)
  # Reversed so the first listed reason wins when several hold at once.
  for c, hit in reversed(((STOP_EOS, is_eos), (STOP_TOKEN, is_tok), (STOP_SEQUENCE, is_seq),
                          (STOP_BUDGET, is_budget), (STOP_LENGTH, is_len))):
    code_N = jnp.where(hit, c, code_N)
  return code_N, recent_NxW


def _decode_step(carry: _Carry, params, model_config: ModelConfig, cfg: SamplerConfig,
                 processors, prompt_len_N: Array, row_keys_N: Array) -> _Carry:
  state = carry.state
  t = state.step
  positions_Nx1 = (prompt_len_N - 1 + t)[:, None]
  logits_Nx1xV, cache = Transformer(model_config).apply(
      {"params": params}, carry.feed_N[:, None], positions_Nx1, cache=carry.cache)
  cache = _constrain_cache(cache)
  logits_NxV = logits_Nx1xV[:, 0].astype(jnp.float32)
  proc_NxV = procs.apply_processors(logits_NxV, state, processors)
  greedy = cfg.temperature == 0.0
  if greedy:
    sampled_N = jnp.argmax(proc_NxV, axis=-1).astype(jnp.int32)
  else:
    step_keys_N = jax.vmap(jax.random.fold_in, in_axes=(0, None))(row_keys_N, t)
    sampled_N = jax.vmap(jax.random.categorical)(step_keys_N, proc_NxV).astype(jnp.int32)

  active_N = ~state.done_N
  was_thinking_N = state.in_think_N
  forced_N = jnp.zeros_like(active_N)
  token_N = sampled_N
  if cfg.think_end_spellings:
    token_N, forced_N, state = procs.budget_force(sampled_N, state, cfg)
  token_N = jnp.where(active_N, token_N, cfg.pad_id)

  def logprob_of(z_NxV):  # log softmax at the token only: no [N, V] output written.
    z_N = jnp.take_along_axis(z_NxV, token_N[:, None], axis=1)[:, 0]
    return z_N - jax.nn.logsumexp(z_NxV, axis=-1)

  raw_lp_N = logprob_of(logits_NxV)
  if greedy:
    proc_lp_N = jnp.zeros_like(raw_lp_N)
  else:
    proc_lp_N = jnp.where(forced_N, 0.0, logprob_of(proc_NxV))

  answer_tokens_N = carry.answer_tokens_N + (active_N & ~was_thinking_N).astype(jnp.int32)
  code_N, recent_NxW = _stop_codes(token_N, carry.recent_NxW, answer_tokens_N, t, cfg)
  stops_N = active_N & (code_N > 0)

  thought_start_N = state.thought_start_N
  W = recent_NxW.shape[1]
  for word in cfg.tip_words:
    # A new thought starts at the first token of a switch word, once the whole word is out.
    switch_N = active_N & jnp.all(recent_NxW[:, W - len(word):] == jnp.asarray(word, jnp.int32),
                                  axis=1)
    thought_start_N = jnp.where(switch_N, t - len(word) + 1, thought_start_N)

  def put(buf_NxT, col_N):
    return jax.lax.dynamic_update_slice_in_dim(buf_NxT, col_N[:, None].astype(buf_NxT.dtype),
                                               t, axis=1)

  state = state._replace(step=t + 1, tokens_NxT=put(state.tokens_NxT, token_N),
                         done_N=state.done_N | stops_N, thought_start_N=thought_start_N)
  zero = jnp.zeros_like(raw_lp_N)
  return _Carry(
      cache=cache, feed_N=token_N, state=state,
      logprobs_NxT=put(carry.logprobs_NxT, jnp.where(active_N, proc_lp_N, zero)),
      raw_logprobs_NxT=put(carry.raw_logprobs_NxT, jnp.where(active_N, raw_lp_N, zero)),
      forced_NxT=put(carry.forced_NxT, active_N & forced_N),
      lengths_N=carry.lengths_N + active_N.astype(jnp.int32),
      stop_reason_N=jnp.where(stops_N, code_N, carry.stop_reason_N),
      recent_NxW=recent_NxW, answer_tokens_N=answer_tokens_N)


def _generate(params, prompt_tokens_BxP, prompt_mask_BxP, keys_B, *, model_config: ModelConfig,
              cfg: SamplerConfig, processors) -> SampleOutput:
  """The whole rollout, traceable: prefill, repeat to N rows, decode loop."""
  cfg.check_vocab(model_config.vocab_size)
  if processors is None:
    processors = procs.build_processors(cfg)
  B, P_ = prompt_tokens_BxP.shape
  n, T = cfg.n, cfg.max_new_tokens
  N = B * n
  tokens_BxP, mask_BxP = left_align(prompt_tokens_BxP.astype(jnp.int32),
                                    prompt_mask_BxP.astype(bool))
  cache = prefill(params, model_config, tokens_BxP, mask_BxP, P_ - 1 + T)
  # The decode loop carries one buffer per layer (see KVCache), each written in place.
  L = model_config.num_layers
  cache = _constrain_cache(KVCache(
      k=tuple(jnp.repeat(cache.k[i], n, axis=0) for i in range(L)),
      v=tuple(jnp.repeat(cache.v[i], n, axis=0) for i in range(L)),
      mask=jnp.repeat(cache.mask, n, axis=0), index=cache.index))
  prompt_len_N = jnp.repeat(jnp.sum(mask_BxP, axis=1, dtype=jnp.int32), n)
  row_keys_N = _row_keys(keys_B, n)

  def rows(x):  # Per-row buffers follow the batch sharding (scalars stay replicated).
    if x.ndim == 0:
      return x
    return nn.with_logical_constraint(x, ("activation_batch",) + (None,) * (x.ndim - 1))

  W = max([len(s) for s in cfg.stop_sequences + cfg.tip_words] + [1])
  zeros_N = rows(jnp.zeros((N,), jnp.int32))
  carry = _Carry(
      cache=cache, feed_N=rows(jnp.repeat(tokens_BxP[:, -1], n)),
      state=jax.tree.map(rows, procs.init_state(N, T, cfg.pad_id)),
      logprobs_NxT=rows(jnp.zeros((N, T), jnp.float32)),
      raw_logprobs_NxT=rows(jnp.zeros((N, T), jnp.float32)),
      forced_NxT=rows(jnp.zeros((N, T), bool)), lengths_N=zeros_N, stop_reason_N=zeros_N,
      recent_NxW=rows(jnp.full((N, W), -1, jnp.int32)), answer_tokens_N=zeros_N)

  def cond(c: _Carry):
    return (c.state.step < T) & ~jnp.all(c.state.done_N)

  # Each layer's weights split out of the stacks once, here, not on every step of the loop.
  layer_params = unstack_layer_params(params)

  def body(c: _Carry):
    return _decode_step(c, layer_params, model_config, cfg, processors, prompt_len_N,
                        row_keys_N)

  out = jax.lax.while_loop(cond, body, carry)
  mask_NxT = (jnp.arange(T)[None] < out.lengths_N[:, None]).astype(jnp.int32)
  return SampleOutput(
      tokens_NxT=out.state.tokens_NxT, mask_NxT=mask_NxT, logprobs_NxT=out.logprobs_NxT,
      raw_logprobs_NxT=out.raw_logprobs_NxT, lengths_N=out.lengths_N,
      stop_reason_N=out.stop_reason_N, forced_mask_NxT=out.forced_NxT.astype(jnp.int32),
      num_waits_N=out.state.num_waits_N, prompt_lengths_N=prompt_len_N)


_generate_jit = jax.jit(_generate, static_argnames=("model_config", "cfg", "processors"))


def _check_inputs(prompt_tokens_BxP, prompt_mask_BxP, keys_B):
  tok_shape, mask_shape = np.shape(prompt_tokens_BxP), np.shape(prompt_mask_BxP)
  if len(tok_shape) != 2 or tok_shape != mask_shape:
    raise ValueError(f"sample: prompt_tokens_BxP {tok_shape} and prompt_mask_BxP {mask_shape} "
                     f"must be 2-D with the same shape")
  if np.shape(keys_B)[:1] != tok_shape[:1]:
    raise ValueError(f"sample: keys_B {np.shape(keys_B)} needs one key per prompt "
                     f"({tok_shape[0]})")
  if isinstance(prompt_mask_BxP, jax.Array) and not prompt_mask_BxP.is_fully_addressable:
    return  # A multi-process global array (its rows come from pipelines, never empty).
  if not isinstance(prompt_mask_BxP, jax.core.Tracer):
    empty = np.flatnonzero(np.asarray(prompt_mask_BxP).sum(axis=1) == 0)
    if empty.size:
      raise ValueError(f"sample: prompt rows {empty.tolist()} have no real token in "
                       f"prompt_mask_BxP")


def sample(params, model_config: ModelConfig, prompt_tokens_BxP, prompt_mask_BxP, keys_B,
           cfg: SamplerConfig, processors: tuple[procs.Processor, ...] | None = None
           ) -> SampleOutput:
  """Samples cfg.n completions per prompt (jitted; model_config, cfg, processors static).

  keys_B: one PRNG key per prompt (typed or raw uint32); row b * n + j uses
  fold_in(keys_B[b], j) and folds in the step, so outputs do not depend on batch composition.
  processors: default `build_processors(cfg)`; a custom tuple must be the same object on
  every call to avoid recompiling.
  """
  _check_inputs(prompt_tokens_BxP, prompt_mask_BxP, keys_B)
  return _generate_jit(params, prompt_tokens_BxP, prompt_mask_BxP, keys_B,
                       model_config=model_config, cfg=cfg, processors=processors)


class Sampler:
  """`sample` jitted once with shardings for a fixed model and config; reuse across RL steps.

  With a mesh: prompts, keys and every output are split over the rules' 'batch' axes, params
  follow `models.params.param_shardings`, and the cache is constrained to its logical axes. B must
  be divisible by the size of the batch axes. `trace_count` counts the traces (compilations)
  this sampler's calls caused.

  Samplers of the same model, config, mesh, rules and processors share one jitted function
  (`_jitted`): a run builds several (rollouts, each evaluation), and a process may run many
  (a sweep's evaluations, a test session), and each new jit would trace and lower the whole
  decode loop again, the costliest trace of a run on a CPU.
  """

  def __init__(self, model_config: ModelConfig, cfg: SamplerConfig, mesh: Mesh | None = None,
               rules=sharding.DEFAULT_RULES,
               processors: tuple[procs.Processor, ...] | None = None):
    self.model_config, self.cfg, self.mesh, self.rules = model_config, cfg, mesh, rules
    self.trace_count = 0
    rules = tuple((n, tuple(a) if isinstance(a, list) else a) for n, a in rules)
    try:
      hash(processors)
    except TypeError:  # Unhashable custom processors: a jit of this sampler's own.
      self._jitted = _jitted.__wrapped__(model_config, cfg, mesh, rules, processors)
    else:
      self._jitted = _jitted(model_config, cfg, mesh, rules, processors)

  def __call__(self, params, prompt_tokens_BxP, prompt_mask_BxP, keys_B) -> SampleOutput:
    _check_inputs(prompt_tokens_BxP, prompt_mask_BxP, keys_B)
    j = self._jitted
    B = np.shape(prompt_tokens_BxP)[0]
    if B % j.batch_size:
      raise ValueError(f"Sampler: {B} prompts cannot be split over the batch mesh axes "
                       f"(size {j.batch_size})")
    traces = j.traces[0]
    if self.mesh is None:
      out = j.fn(params, prompt_tokens_BxP, prompt_mask_BxP, keys_B)
    else:
      # Inputs made elsewhere (host arrays, keys built under another sharding) are laid out
      # over the batch axes here, so callers need not match the jit's in_shardings.
      prompt_tokens_BxP, prompt_mask_BxP, keys_B = jax.device_put(
          (prompt_tokens_BxP, prompt_mask_BxP, keys_B), j.rows)
      with sharding.activation_sharding(self.mesh, self.rules):
        out = j.fn(params, prompt_tokens_BxP, prompt_mask_BxP, keys_B)
    self.trace_count += j.traces[0] - traces  # Tracing happens inside the call, synchronously.
    return out


class _Jitted(NamedTuple):
  fn: object  # jitted (params, prompt_tokens_BxP, prompt_mask_BxP, keys_B) -> SampleOutput
  traces: list  # [number of traces so far]
  batch_size: int  # Rows must divide by this (the size of the mesh's batch axes).
  rows: NamedSharding | None  # Row sharding of inputs and outputs (None without a mesh).


@functools.lru_cache(maxsize=32)
def _jitted(model_config: ModelConfig, cfg: SamplerConfig, mesh: Mesh | None, rules,
            processors) -> _Jitted:
  traces = [0]

  def fn(params, prompt_tokens_BxP, prompt_mask_BxP, keys_B):
    traces[0] += 1
    return _generate(params, prompt_tokens_BxP, prompt_mask_BxP, keys_B,
                     model_config=model_config, cfg=cfg, processors=processors)

  if mesh is None:
    return _Jitted(jax.jit(fn), traces, 1, None)
  batch_axes = nn.logical_to_mesh_axes(("batch",), rules)[0]
  names = () if batch_axes is None else (
      batch_axes if isinstance(batch_axes, tuple) else (batch_axes,))
  rows = NamedSharding(mesh, P(batch_axes))
  jitted = jax.jit(
      fn, in_shardings=(params_lib.param_shardings(model_config, mesh, rules), rows, rows, rows),
      out_shardings=SampleOutput(*([rows] * len(SampleOutput._fields))))
  return _Jitted(jitted, traces, math.prod(mesh.shape[a] for a in names), rows)


def make_sample_fn(model_config: ModelConfig, cfg: SamplerConfig, mesh: Mesh | None = None,
                   rules=sharding.DEFAULT_RULES,
                   processors: tuple[procs.Processor, ...] | None = None) -> Sampler:
  """`fn(params, prompt_tokens_BxP, prompt_mask_BxP, keys_B) -> SampleOutput` (a `Sampler`)."""
  return Sampler(model_config, cfg, mesh, rules, processors)
