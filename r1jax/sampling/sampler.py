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

import dataclasses
import math
from typing import NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from r1jax import sharding
from r1jax.models.transformer import KVCache, ModelConfig, Transformer, init_cache
from r1jax.sampling import processors as procs

Array = jax.Array

STOP_EOS, STOP_TOKEN, STOP_SEQUENCE, STOP_LENGTH, STOP_BUDGET = 1, 2, 3, 4, 5
_STOP_NAMES = {STOP_EOS: "eos", STOP_TOKEN: "stop_token", STOP_SEQUENCE: "stop_sequence",
               STOP_LENGTH: "length", STOP_BUDGET: "budget"}


def stop_reason_name(code: int) -> str:
  """'eos', 'stop_token', 'stop_sequence', 'length' or 'budget'."""
  if int(code) not in _STOP_NAMES:
    raise ValueError(f"stop_reason_name: unknown stop reason code {code!r}")
  return _STOP_NAMES[int(code)]


_ID_TUPLES = ("stop_token_ids", "wait_ids", "answer_prefix_ids", "tip_token_ids")
_SEQ_TUPLES = ("stop_sequences", "think_end_seqs", "tip_sequences")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SamplerConfig:
  """Static sampling settings (hashable: a jit static argument). Ids are token ids.

  Greedy when temperature == 0; top_k 0, top_p 1 and min_p 0 switch those off. eos_id -1 means
  no EOS. Budget forcing (s1) and the answer budget need think_end_id >= 0:
  max_think_tokens > 0 cuts thinking at that many tokens by appending think_end_id then
  answer_prefix_ids; min_think_tokens > 0 replaces an early think_end_id by wait_ids, at most
  max_waits times; max_answer_tokens > 0 stops a row (STOP_BUDGET) after that many tokens
  past the end of thinking. TIP subtracts tip_alpha from the logits of tip_token_ids (and of the
  first token of each multi-token word in tip_sequences) during the first tip_beta steps of
  each thought (a thought starts at step 0 and at the first token of every switch word, once
  the word is complete). With think_end_seqs the delimiter may be several tokens: any of its
  spellings ends thinking, and under min_think_tokens its first token, eos or a stop token is
  replaced by wait_ids.
  stop_sequences are id sequences tokenised by the caller, who also cuts text-level stop
  strings on the host (a string can tokenise differently inside a completion).
  """
  max_new_tokens: int
  eos_id: int
  temperature: float = 1.0
  top_k: int = 0
  top_p: float = 1.0
  min_p: float = 0.0
  pad_id: int = 0
  stop_token_ids: tuple[int, ...] = ()
  stop_sequences: tuple[tuple[int, ...], ...] = ()
  n: int = 1
  think_end_id: int = -1
  min_think_tokens: int = 0
  max_think_tokens: int = 0
  wait_ids: tuple[int, ...] = ()
  max_waits: int = 0
  answer_prefix_ids: tuple[int, ...] = ()
  max_answer_tokens: int = 0
  tip_token_ids: tuple[int, ...] = ()
  tip_alpha: float = 0.0
  tip_beta: int = 0
  # Multi-token delimiters as id sequences (spellings.py gives a tokenizer's spellings):
  # think_end_seqs are the end-of-thinking delimiter's spellings, the first one forced (used
  # instead of think_end_id when set); tip_sequences are multi-token thought-switch words.
  think_end_seqs: tuple[tuple[int, ...], ...] = ()
  tip_sequences: tuple[tuple[int, ...], ...] = ()
  vocab_limit: int = 0  # Ids >= this are never sampled (padded model vocab); 0 is off.
  # Stop strings as text: not used on device; callers cut completions at them on the host
  # with `stop_text.cut_output` (they may tokenise differently in context).
  stop_strings: tuple[str, ...] = ()

  def __post_init__(self):
    def fail(field, msg):
      raise ValueError(f"SamplerConfig.{field} {msg}, got {getattr(self, field)!r}")

    def as_ids(field, value):
      if isinstance(value, (int, np.integer)) or not isinstance(value, Sequence):
        fail(field, "must be a sequence of token ids")
      if not all(isinstance(i, (int, np.integer)) and i >= 0 for i in value):
        fail(field, "must hold non-negative int token ids")
      return tuple(int(i) for i in value)

    for f in _ID_TUPLES:
      object.__setattr__(self, f, as_ids(f, getattr(self, f)))
    for f in ("stop_sequences", "think_end_seqs", "tip_sequences"):
      if not isinstance(getattr(self, f), Sequence):
        fail(f, "must be a sequence of id sequences")
      seqs = tuple(as_ids(f, s) for s in getattr(self, f))
      if any(not s for s in seqs):
        fail(f, "must not contain an empty sequence")
      object.__setattr__(self, f, seqs)
    if isinstance(self.stop_strings, str) or not all(
        isinstance(x, str) and x for x in self.stop_strings):
      fail("stop_strings", "must be a sequence of non-empty strings")
    object.__setattr__(self, "stop_strings", tuple(self.stop_strings))
    for f in ("temperature", "top_p", "min_p", "tip_alpha"):
      object.__setattr__(self, f, float(getattr(self, f)))
    for f in ("max_new_tokens", "n"):
      if not isinstance(getattr(self, f), int) or getattr(self, f) < 1:
        fail(f, "must be an int >= 1")
    for f in ("top_k", "pad_id", "min_think_tokens", "max_think_tokens", "max_waits",
              "max_answer_tokens", "tip_beta", "vocab_limit"):
      if not isinstance(getattr(self, f), int) or getattr(self, f) < 0:
        fail(f, "must be an int >= 0")
    for f in ("eos_id", "think_end_id"):
      if not isinstance(getattr(self, f), int) or getattr(self, f) < -1:
        fail(f, "must be a token id or -1 (none)")
    if self.temperature < 0:
      fail("temperature", "must be >= 0 (0 is greedy)")
    if not 0.0 < self.top_p <= 1.0:
      fail("top_p", "must be in (0, 1] (1 is off)")
    if not 0.0 <= self.min_p < 1.0:
      fail("min_p", "must be in [0, 1) (0 is off)")
    uses_think = self.min_think_tokens or self.max_think_tokens or self.max_answer_tokens
    if uses_think and not self.think_end_spellings:
      fail("think_end_id", "must be set (or think_end_seqs) for min/max_think_tokens or "
           "max_answer_tokens")
    if self.min_think_tokens and (not self.wait_ids or self.max_waits < 1):
      fail("wait_ids", "must be non-empty, with max_waits >= 1, when min_think_tokens > 0")
    if set(self.wait_ids) & {s[0] for s in self.think_end_spellings}:
      fail("wait_ids", "must not contain the first token of the end-of-thinking delimiter")
    if self.max_think_tokens and self.min_think_tokens > self.max_think_tokens:
      fail("min_think_tokens", f"must be <= max_think_tokens ({self.max_think_tokens})")
    if (self.tip_token_ids or self.tip_sequences) and self.tip_beta < 1:
      fail("tip_beta", "must be >= 1 when tip_token_ids or tip_sequences are set")

  @property
  def think_end_spellings(self) -> tuple[tuple[int, ...], ...]:
    """The end-of-thinking delimiter's id sequences, the forced one first; () if none."""
    if self.think_end_seqs:
      return self.think_end_seqs
    return ((self.think_end_id,),) if self.think_end_id >= 0 else ()

  @property
  def tip_words(self) -> tuple[tuple[int, ...], ...]:
    """Every thought-switch word as an id sequence (single tokens as length-1 sequences)."""
    return tuple((i,) for i in self.tip_token_ids) + self.tip_sequences

  def check_vocab(self, vocab_size: int):
    """Raises if any configured id is outside the model's vocabulary."""
    singles = {"eos_id": self.eos_id, "pad_id": self.pad_id, "think_end_id": self.think_end_id}
    for f, i in singles.items():
      if i >= vocab_size:
        raise ValueError(f"SamplerConfig.{f}={i} is outside the vocabulary ({vocab_size})")
    for f in _ID_TUPLES + _SEQ_TUPLES:
      v = getattr(self, f)
      ids = [i for s in v for i in s] if f in _SEQ_TUPLES else list(v)
      if any(i >= vocab_size for i in ids):
        raise ValueError(f"SamplerConfig.{f} has ids outside the vocabulary ({vocab_size}): "
                         f"{v!r}")


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


_CACHE_AXES = KVCache(k=("layers", "cache_batch", "cache_length", "cache_kv_heads", "head_dim"),
                      v=("layers", "cache_batch", "cache_length", "cache_kv_heads", "head_dim"),
                      mask=("cache_batch", "cache_length"), index=None)


def _constrain_cache(cache: KVCache) -> KVCache:
  # A no-op unless traced under sharding.activation_sharding (then: batch over data axes).
  return KVCache(*(x if a is None else nn.with_logical_constraint(x, a)
                   for x, a in zip(cache, _CACHE_AXES)))


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
  cache = _constrain_cache(KVCache(k=jnp.repeat(cache.k, n, axis=1),
                                   v=jnp.repeat(cache.v, n, axis=1),
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

  def body(c: _Carry):
    return _decode_step(c, params, model_config, cfg, processors, prompt_len_N, row_keys_N)

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
  follow `sharding.param_shardings`, and the cache is constrained to its logical axes. B must
  be divisible by the size of the batch axes. `trace_count` counts traces (compilations).
  """

  def __init__(self, model_config: ModelConfig, cfg: SamplerConfig, mesh: Mesh | None = None,
               rules=sharding.DEFAULT_RULES,
               processors: tuple[procs.Processor, ...] | None = None):
    self.model_config, self.cfg, self.mesh, self.rules = model_config, cfg, mesh, rules
    self.trace_count = 0

    def fn(params, prompt_tokens_BxP, prompt_mask_BxP, keys_B):
      self.trace_count += 1
      return _generate(params, prompt_tokens_BxP, prompt_mask_BxP, keys_B,
                       model_config=model_config, cfg=cfg, processors=processors)

    if mesh is None:
      self._fn = jax.jit(fn)
      self._batch_size = 1
      return
    batch_axes = nn.logical_to_mesh_axes(("batch",), rules)[0]
    names = () if batch_axes is None else (
        batch_axes if isinstance(batch_axes, tuple) else (batch_axes,))
    self._batch_size = math.prod(mesh.shape[a] for a in names)
    rows = NamedSharding(mesh, P(batch_axes))
    self._rows = rows
    self._fn = jax.jit(
        fn, in_shardings=(sharding.param_shardings(model_config, mesh, rules), rows, rows, rows),
        out_shardings=SampleOutput(*([rows] * len(SampleOutput._fields))))

  def __call__(self, params, prompt_tokens_BxP, prompt_mask_BxP, keys_B) -> SampleOutput:
    _check_inputs(prompt_tokens_BxP, prompt_mask_BxP, keys_B)
    B = np.shape(prompt_tokens_BxP)[0]
    if B % self._batch_size:
      raise ValueError(f"Sampler: {B} prompts cannot be split over the batch mesh axes "
                       f"(size {self._batch_size})")
    if self.mesh is None:
      return self._fn(params, prompt_tokens_BxP, prompt_mask_BxP, keys_B)
    # Inputs made elsewhere (host arrays, keys built under another sharding) are laid out
    # over the batch axes here, so callers need not match the jit's in_shardings.
    prompt_tokens_BxP, prompt_mask_BxP, keys_B = jax.device_put(
        (prompt_tokens_BxP, prompt_mask_BxP, keys_B), self._rows)
    with sharding.activation_sharding(self.mesh, self.rules):
      return self._fn(params, prompt_tokens_BxP, prompt_mask_BxP, keys_B)


def make_sample_fn(model_config: ModelConfig, cfg: SamplerConfig, mesh: Mesh | None = None,
                   rules=sharding.DEFAULT_RULES,
                   processors: tuple[procs.Processor, ...] | None = None) -> Sampler:
  """`fn(params, prompt_tokens_BxP, prompt_mask_BxP, keys_B) -> SampleOutput` (a `Sampler`)."""
  return Sampler(model_config, cfg, mesh, rules, processors)
