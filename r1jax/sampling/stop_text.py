"""Stop strings matched on decoded text, as vLLM and HF generate do.

A byte-level BPE tokenizer spells '</answer>' differently in context: after '}', a space or a
full stop its first characters merge with their neighbours ('}</', ' </', '.</'), so the id
sequence the sampler matches on device (the string's standalone tokenisation) misses it. Here
each completion is decoded on the host and cut at the token whose text completes the first
stop string:

  out = stop_text.cut_output(out, tokenizer, sampler.cfg.stop_strings)

returns the sampler output with the new lengths, the mask, log-probs and forced-token mask
zeroed after them, pad ids in the tokens there and STOP_SEQUENCE as the stop reason, so
nothing after a stop string is trained on. The token that completes a match is kept whole (a
merged token such as '>.' cannot be split); `trim_text` drops the characters after the match
from the decoded text before grading (vLLM returns the text cut the same way). The sampler
still runs such a row to eos or its budget: the cut costs decode time, not correctness.
"""
from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from r1jax import distributed
from r1jax.sampling.sampler import STOP_SEQUENCE, SampleOutput


def _first_end(text: str, stop_strings: Sequence[str]) -> int | None:
  """Character offset just past the earliest-ending stop string match in `text`."""
  ends = [i + len(s) for s in stop_strings if s and (i := text.find(s)) >= 0]
  return min(ends) if ends else None


def trim_text(text: str, stop_strings: Sequence[str]) -> str:
  """`text` up to and including its first stop string (unchanged without one)."""
  end = _first_end(text, stop_strings)
  return text if end is None else text[:end]


_PIECE_LENGTHS: dict[int, tuple] = {}  # id(tokenizer) -> (tokenizer, np array of lengths)


def _piece_lengths(tokenizer) -> np.ndarray:
  """Characters each id decodes to on its own (one pass over the vocabulary, cached)."""
  hit = _PIECE_LENGTHS.get(id(tokenizer))
  if hit is None or hit[0] is not tokenizer:
    lengths = np.asarray([len(tokenizer.decode([i])) for i in range(tokenizer.vocab_size)],
                         np.int64)
    hit = _PIECE_LENGTHS[id(tokenizer)] = (tokenizer, lengths)
  return hit[1]


def _matches(tokenizer, ids: list[int], k: int, stop_strings) -> bool:
  return k > 0 and _first_end(tokenizer.decode(ids[:k]), stop_strings) is not None


def stop_length(tokenizer, ids: Sequence[int], stop_strings: Sequence[str]) -> int | None:
  """Fewest leading tokens of `ids` whose decoded text holds a stop string; None if the whole
  completion holds none. Incremental in effect: the smallest prefix that matches. The guess
  from per-token text lengths is checked with two decodes (exact for byte-level BPE on ASCII);
  otherwise bisection finds it (a prefix's text grows with the prefix)."""
  ids = [int(t) for t in ids]
  if not stop_strings:
    return None
  end = _first_end(tokenizer.decode(ids), stop_strings)
  if end is None:
    return None
  pieces = _piece_lengths(tokenizer)[np.clip(ids, 0, tokenizer.vocab_size - 1)]
  guess = int(np.searchsorted(np.cumsum(pieces), end)) + 1
  if guess <= len(ids) and _matches(tokenizer, ids, guess, stop_strings) and not _matches(
      tokenizer, ids, guess - 1, stop_strings):
    return guess
  lo, hi = 1, len(ids)  # decode(ids[:hi]) matches; find the smallest such prefix.
  while lo < hi:
    mid = (lo + hi) // 2
    if _first_end(tokenizer.decode(ids[:mid]), stop_strings) is None:
      lo = mid + 1
    else:
      hi = mid
  return hi


def cut_lengths(tokenizer, tokens_NxT: np.ndarray, lengths_N: np.ndarray,
                stop_strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
  """(new lengths_N, hit_N): each row cut after the token completing its first stop string."""
  lengths = np.asarray(lengths_N, np.int32).copy()
  hit = np.zeros(lengths.shape, bool)
  if not stop_strings:
    return lengths, hit
  for i, (row, n) in enumerate(zip(np.asarray(tokens_NxT), lengths_N)):
    k = stop_length(tokenizer, row[:int(n)], stop_strings)
    if k is not None:
      lengths[i], hit[i] = k, True
  return lengths, hit


@functools.partial(jax.jit, static_argnames="pad_id")
def _apply(out: SampleOutput, lengths_N, hit_N, pad_id: int) -> SampleOutput:
  T = out.tokens_NxT.shape[1]
  keep_NxT = jnp.arange(T)[None] < lengths_N[:, None]
  zero = lambda x: jnp.where(keep_NxT, x, jnp.zeros_like(x))
  return out._replace(
      tokens_NxT=jnp.where(keep_NxT, out.tokens_NxT, pad_id),
      mask_NxT=keep_NxT.astype(out.mask_NxT.dtype),
      logprobs_NxT=zero(out.logprobs_NxT), raw_logprobs_NxT=zero(out.raw_logprobs_NxT),
      forced_mask_NxT=zero(out.forced_mask_NxT),
      lengths_N=lengths_N.astype(out.lengths_N.dtype),
      stop_reason_N=jnp.where(hit_N, STOP_SEQUENCE, out.stop_reason_N))


def cut_output(out: SampleOutput, tokenizer, stop_strings: Sequence[str]) -> SampleOutput:
  """`out` with every row cut at its first text-level stop string (see the module doc).

  Works on row-sharded global arrays of a multi-process run: each process decodes its own
  rows. Returns `out` itself when no stop strings are configured.
  """
  if not stop_strings:
    return out
  if not isinstance(out.lengths_N, jax.Array):  # Host arrays (a fetched output): stay on host.
    lengths, hit = cut_lengths(tokenizer, out.tokens_NxT, out.lengths_N, stop_strings)
    return jax.device_get(_apply(out, jnp.asarray(lengths), jnp.asarray(hit),
                                 pad_id=int(tokenizer.pad_id)))
  tokens = distributed.local_rows(out.tokens_NxT)
  lengths = distributed.local_rows(out.lengths_N)
  new_lengths, hit = cut_lengths(tokenizer, tokens, lengths, stop_strings)
  rows = out.lengths_N.sharding
  if isinstance(rows, jax.sharding.NamedSharding):
    new_lengths_N = distributed.global_rows(new_lengths, rows)
    hit_N = distributed.global_rows(hit, rows)
  else:
    new_lengths_N, hit_N = jnp.asarray(new_lengths), jnp.asarray(hit)
  return _apply(out, new_lengths_N, hit_N, pad_id=int(tokenizer.pad_id))
