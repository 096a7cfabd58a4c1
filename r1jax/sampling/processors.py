"""Logit processors and the budget-forcing token rule of the rollout sampler.

Shape legend: N rows (prompts x samples per prompt), V vocab, T max new tokens, Q longest
forced sequence.

A processor is a pure function `(logits_NxV, state) -> logits_NxV` of the raw model logits and
the decode-loop state (`LoopState`); the sampler composes a sequence of them and samples from the
result. `build_processors(cfg)` picks them from `PROCESSORS` in a fixed order: TIP first (it
edits raw logits, as in the paper), then temperature, then the truncations top-k, top-p and
min-p, which all act on the tempered distribution (the usual convention).

Budget forcing (s1) is not a logit processor: "suppress the delimiter and append Wait" depends on
the token the model actually samples, and appended strings are several tokens. It is a token rule,
`budget_force(sampled_N, state, cfg)`, applied right after sampling; it returns the token to emit
and whether it was forced. Thinking is counted from the first generated token (the prompt ends
with, or the model starts with, the opening of thinking) up to the end-of-thinking delimiter.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp

if TYPE_CHECKING:
  from r1jax.sampling.sampler import SamplerConfig

Array = jax.Array

# Forced-sequence kinds (LoopState.force_kind_N).
FORCE_NONE, FORCE_WAIT, FORCE_END = 0, 1, 2


class LoopState(NamedTuple):
  """What processors and the token rule may read; the sampler updates it each step.

  step: int32 scalar, index of the completion token being chosen now.
  tokens_NxT: completion tokens emitted so far (pad_id elsewhere).
  done_N: rows that have stopped.
  in_think_N: rows still inside thinking (no end-of-thinking delimiter emitted yet).
  think_tokens_N: thinking tokens emitted so far (the delimiter excluded, "Wait"s included).
  num_waits_N: how many times "Wait" was appended.
  thought_start_N: TIP's Psi, the step where the current thought began (last switch token).
  force_kind_N, force_pos_N: a forced sequence in progress (FORCE_*) and its next index.
  """
  step: Array
  tokens_NxT: Array
  done_N: Array
  in_think_N: Array
  think_tokens_N: Array
  num_waits_N: Array
  thought_start_N: Array
  force_kind_N: Array
  force_pos_N: Array


Processor = Callable[[Array, LoopState], Array]


def init_state(num_rows: int, max_new_tokens: int, pad_id: int) -> LoopState:
  zeros = jnp.zeros((num_rows,), jnp.int32)
  return LoopState(step=jnp.zeros((), jnp.int32),
                   tokens_NxT=jnp.full((num_rows, max_new_tokens), pad_id, jnp.int32),
                   done_N=jnp.zeros((num_rows,), bool), in_think_N=jnp.ones((num_rows,), bool),
                   think_tokens_N=zeros, num_waits_N=zeros, thought_start_N=zeros,
                   force_kind_N=zeros, force_pos_N=zeros)


def temperature(logits_NxV: Array, state: LoopState, *, value: float) -> Array:
  del state
  return logits_NxV / value


def top_k(logits_NxV: Array, state: LoopState, *, k: int) -> Array:
  """Keeps the k largest logits (ties with the k-th are kept too)."""
  del state
  kth_Nx1 = jax.lax.top_k(logits_NxV, k)[0][:, -1:]
  return jnp.where(logits_NxV >= kth_Nx1, logits_NxV, -jnp.inf)


def top_p(logits_NxV: Array, state: LoopState, *, p: float) -> Array:
  """Keeps the nucleus: the fewest most-likely tokens whose probability sums to >= p."""
  del state
  sorted_NxV = jnp.sort(logits_NxV, axis=-1)[:, ::-1]
  probs_NxV = jax.nn.softmax(sorted_NxV, axis=-1)
  # A token is in the nucleus when the mass strictly before it is still < p; the first
  # token always is, so the nucleus is never empty.
  mass_before_NxV = jnp.cumsum(probs_NxV, axis=-1) - probs_NxV
  count_N = jnp.sum(mass_before_NxV < p, axis=-1)
  cutoff_Nx1 = jnp.take_along_axis(sorted_NxV, count_N[:, None] - 1, axis=-1)
  return jnp.where(logits_NxV >= cutoff_Nx1, logits_NxV, -jnp.inf)


def min_p(logits_NxV: Array, state: LoopState, *, p: float) -> Array:
  """Keeps tokens whose probability is at least p times the most likely token's."""
  del state
  # prob_v >= p * prob_max  <=>  logit_v >= logit_max + log p (no softmax needed).
  floor_Nx1 = jnp.max(logits_NxV, axis=-1, keepdims=True) + jnp.log(p)
  return jnp.where(logits_NxV >= floor_Nx1, logits_NxV, -jnp.inf)


def tip(logits_NxV: Array, state: LoopState, *, token_ids: tuple[int, ...], alpha: float,
        beta: int) -> Array:
  """Thought-switching penalty: logits of switch tokens minus alpha while step < Psi + beta."""
  in_window_N = state.step < state.thought_start_N + beta
  penalty_N = jnp.where(in_window_N, alpha, 0.0)
  switch_V = jnp.isin(jnp.arange(logits_NxV.shape[-1]), jnp.asarray(token_ids, jnp.int32))
  # An elementwise mask rather than a scatter keeps a vocab-sharded logits array sharded.
  return logits_NxV - (penalty_N[:, None] * switch_V[None]).astype(logits_NxV.dtype)


def vocab_limit(logits_NxV: Array, state: LoopState, *, limit: int) -> Array:
  """Ids >= limit never sampled: model vocabularies are padded past the tokenizer's ids."""
  del state
  valid_V = jnp.arange(logits_NxV.shape[-1]) < limit
  return jnp.where(valid_V[None], logits_NxV, -jnp.inf)


def _make_vocab_limit(cfg: SamplerConfig) -> Processor | None:
  if cfg.vocab_limit == 0:
    return None
  return lambda logits, state: vocab_limit(logits, state, limit=cfg.vocab_limit)


def _make_temperature(cfg: SamplerConfig) -> Processor | None:
  # 0 is greedy (argmax, done by the sampler) and 1 is the identity.
  if cfg.temperature in (0.0, 1.0):
    return None
  return lambda logits, state: temperature(logits, state, value=cfg.temperature)


def _make_top_k(cfg: SamplerConfig) -> Processor | None:
  if cfg.top_k == 0:
    return None
  return lambda logits, state: top_k(logits, state, k=cfg.top_k)


def _make_top_p(cfg: SamplerConfig) -> Processor | None:
  if cfg.top_p >= 1.0:
    return None
  return lambda logits, state: top_p(logits, state, p=cfg.top_p)


def _make_min_p(cfg: SamplerConfig) -> Processor | None:
  if cfg.min_p <= 0.0:
    return None
  return lambda logits, state: min_p(logits, state, p=cfg.min_p)


def _make_tip(cfg: SamplerConfig) -> Processor | None:
  if not cfg.tip_words or cfg.tip_alpha == 0.0 or cfg.tip_beta <= 0:
    return None
  # A multi-token switch word is penalised at its first position: its first token.
  firsts = tuple(dict.fromkeys(w[0] for w in cfg.tip_words))
  return lambda logits, state: tip(logits, state, token_ids=firsts, alpha=cfg.tip_alpha,
                                   beta=cfg.tip_beta)


# name -> factory(cfg) returning the processor, or None when the config switches it off.
PROCESSORS: dict[str, Callable[[SamplerConfig], Processor | None]] = {
    "vocab_limit": _make_vocab_limit,
    "tip": _make_tip,
    "temperature": _make_temperature,
    "top_k": _make_top_k,
    "top_p": _make_top_p,
    "min_p": _make_min_p,
}
DEFAULT_ORDER = ("vocab_limit", "tip", "temperature", "top_k", "top_p", "min_p")


def build_processors(cfg: SamplerConfig,
                     names: Sequence[str] = DEFAULT_ORDER) -> tuple[Processor, ...]:
  """The processors `cfg` switches on, in the order of `names`."""
  unknown = [n for n in names if n not in PROCESSORS]
  if unknown:
    raise ValueError(f"build_processors: unknown processor(s) {unknown}; "
                     f"known: {sorted(PROCESSORS)}")
  made = (PROCESSORS[n](cfg) for n in names)
  return tuple(p for p in made if p is not None)


def apply_processors(logits_NxV: Array, state: LoopState,
                     processors: Sequence[Processor]) -> Array:
  for proc in processors:
    logits_NxV = proc(logits_NxV, state)
  return logits_NxV


def _forced_table(cfg: SamplerConfig) -> tuple[Array, Array]:
  """Rows FORCE_WAIT-1 ("Wait") and FORCE_END-1 (delimiter + answer prefix), padded; lengths."""
  seqs = (tuple(cfg.wait_ids), cfg.think_end_spellings[0] + tuple(cfg.answer_prefix_ids))
  width = max(len(s) for s in seqs)
  table = [list(s) + [cfg.pad_id] * (width - len(s)) for s in seqs]
  return jnp.asarray(table, jnp.int32), jnp.asarray([len(s) for s in seqs], jnp.int32)


def budget_force(sampled_N: Array, state: LoopState,
                 cfg: SamplerConfig) -> tuple[Array, Array, LoopState]:
  """s1 budget forcing for one step: (token_N, forced_N, state with budget fields updated).

  In priority order, per row: reaching `max_think_tokens` while thinking forces the delimiter
  then `answer_prefix_ids` (cutting any "Wait" in progress); a forced sequence in progress
  emits its next token; with fewer than `min_think_tokens` thinking tokens and fewer than
  `max_waits` waits, sampling the delimiter's first token (any spelling's) or an end of turn
  (eos or a stop token) emits `wait_ids` instead (s1). Otherwise the sampled token stands.
  Thinking ends once a spelling of the delimiter is complete, sampled or forced; the tokens of
  a forced delimiter and answer prefix are not thinking tokens.
  """
  table_2xQ, lengths_2 = _forced_table(cfg)
  spellings = cfg.think_end_spellings
  kind_N, pos_N = state.force_kind_N, state.force_pos_N
  thinking_N = state.in_think_N & ~state.done_N
  ending_N = kind_N == FORCE_END  # A forced delimiter in progress (multi-token).

  cut_N = jnp.zeros_like(thinking_N)
  if cfg.max_think_tokens > 0:
    cut_N = thinking_N & ~ending_N & (state.think_tokens_N >= cfg.max_think_tokens)
  kind_N = jnp.where(cut_N, FORCE_END, kind_N)
  pos_N = jnp.where(cut_N, 0, pos_N)

  wait_N = jnp.zeros_like(thinking_N)
  if cfg.min_think_tokens > 0:
    starts = jnp.asarray(tuple(dict.fromkeys(s[0] for s in spellings)), jnp.int32)
    end_turn = tuple(cfg.stop_token_ids) + ((cfg.eos_id,) if cfg.eos_id >= 0 else ())
    early_N = jnp.isin(sampled_N, starts)
    if end_turn:
      early_N = early_N | jnp.isin(sampled_N, jnp.asarray(end_turn, jnp.int32))
    wait_N = (thinking_N & (kind_N == FORCE_NONE) & early_N
              & (state.think_tokens_N < cfg.min_think_tokens)
              & (state.num_waits_N < cfg.max_waits))
  kind_N = jnp.where(wait_N, FORCE_WAIT, kind_N)
  pos_N = jnp.where(wait_N, 0, pos_N)

  forced_N = (kind_N != FORCE_NONE) & ~state.done_N
  row_N = jnp.maximum(kind_N - 1, 0)
  queued_N = table_2xQ[row_N, jnp.minimum(pos_N, table_2xQ.shape[1] - 1)]
  token_N = jnp.where(forced_N, queued_N, sampled_N)

  next_pos_N = pos_N + 1
  finished_N = next_pos_N >= lengths_2[row_N]
  new_kind_N = jnp.where(forced_N & ~finished_N, kind_N, FORCE_NONE)
  new_pos_N = jnp.where(new_kind_N != FORCE_NONE, next_pos_N, 0)

  ends_N = thinking_N & _completes_any(state.tokens_NxT, state.step, token_N, spellings)
  counted_N = thinking_N & ~ends_N & ~(forced_N & (kind_N == FORCE_END))
  state = state._replace(
      in_think_N=state.in_think_N & ~ends_N,
      think_tokens_N=state.think_tokens_N + counted_N.astype(jnp.int32),
      num_waits_N=state.num_waits_N + wait_N.astype(jnp.int32),
      force_kind_N=new_kind_N.astype(jnp.int32), force_pos_N=new_pos_N.astype(jnp.int32))
  return token_N, forced_N, state


def _completes_any(tokens_NxT: Array, step: Array, token_N: Array,
                   seqs: Sequence[tuple[int, ...]]) -> Array:
  """Rows where `token_N`, emitted at `step` after tokens_NxT[:, :step], ends one of `seqs`."""
  hit_N = jnp.zeros(token_N.shape, bool)
  for seq in seqs:
    ok_N = token_N == seq[-1]
    if len(seq) > 1:
      idx_L = step - (len(seq) - 1) + jnp.arange(len(seq) - 1)
      prev_NxL = jnp.take(tokens_NxT, jnp.maximum(idx_L, 0), axis=1)
      ok_N = ok_N & jnp.all(prev_NxL == jnp.asarray(seq[:-1], jnp.int32), axis=1) \
          & jnp.all(idx_L >= 0)
    hit_N = hit_N | ok_N
  return hit_N
