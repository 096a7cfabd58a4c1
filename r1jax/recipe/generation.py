"""Batched sampling over a list of examples, with host-side results per completion.

Shape legend: B prompts per sampler call, P prompt length, n samples per prompt, N = B * n,
T max new tokens.

Shared by rejection sampling and the test-time evaluation: prompts are left-padded to a fixed
length, the last batch is padded with copies of its last prompt (one compiled shape), and each
prompt's PRNG key comes from (seed, salt, example id), so a completion never depends on which
batch or shard its prompt landed in. That is what makes an interrupted run resume exactly.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import numpy as np

from r1jax.eval.evaluate import completions_text, example_keys, left_pad
from r1jax.sampling import stop_text
from r1jax.sampling.sampler import Sampler, stop_reason_name
from r1jax.tokenizers import Tokenizer


@dataclasses.dataclass
class Generations:
  """Completions of len(examples) prompts, n per prompt, group-contiguous (row p * n + j)."""
  n: int
  texts: list[str]  # N decoded completions (a final stop token kept, a final eos dropped)
  tokens_NxT: np.ndarray  # int32, pad after each completion's length
  lengths_N: np.ndarray  # int32 generated tokens (forced ones included)
  stop_reasons: list[str]  # 'eos', 'stop_token', 'stop_sequence', 'length' or 'budget'
  num_waits_N: np.ndarray  # int32 budget-forcing "Wait" insertions

  def group(self, p: int) -> range:
    """Row indices of prompt p's samples."""
    return range(p * self.n, (p + 1) * self.n)


def prompt_length(tokenizer: Tokenizer, examples: Sequence[dict]) -> int:
  return max(len(tokenizer.encode(e["prompt"])) for e in examples)


def generate(sampler: Sampler, params, tokenizer: Tokenizer, examples: Sequence[dict],
             batch_size: int, prompt_len: int, seed: int, salt: int) -> Generations:
  """Samples `sampler.cfg.n` completions for every example, `batch_size` prompts per call."""
  if not examples:
    raise ValueError("generate: no examples")
  n = sampler.cfg.n
  parts = []
  for i in range(0, len(examples), batch_size):
    chunk = list(examples[i:i + batch_size])
    real = len(chunk)
    chunk += [chunk[-1]] * (batch_size - real)
    toks, mask = left_pad(tokenizer, [e["prompt"] for e in chunk], prompt_len)
    out = jax.device_get(sampler(params, toks, mask, example_keys(seed, salt, chunk)))
    out = stop_text.cut_output(out, tokenizer, sampler.cfg.stop_strings)
    rows = slice(0, real * n)
    parts.append((out.tokens_NxT[rows], out.lengths_N[rows], out.stop_reason_N[rows],
                  out.num_waits_N[rows]))
  tokens = np.concatenate([p[0] for p in parts]).astype(np.int32)
  lengths = np.concatenate([p[1] for p in parts]).astype(np.int32)
  return Generations(
      n=n, texts=completions_text(tokenizer, tokens, lengths, sampler.cfg.stop_strings),
      tokens_NxT=tokens,
      lengths_N=lengths,
      stop_reasons=[stop_reason_name(c) for c in np.concatenate([p[2] for p in parts])],
      num_waits_N=np.concatenate([p[3] for p in parts]).astype(np.int32))
