"""Held-out evaluation with the in-house sampler: greedy pass@1, sampled pass@k and maj@k.

Used by the RL trainer (periodic eval) and by the eval command. Grading reuses the reward
registry, so "correct" means exactly what the accuracy reward means during training.
"""
from __future__ import annotations

import dataclasses
import zlib
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from r1jax import distributed, sharding
from r1jax.eval import metrics as eval_metrics
from r1jax.rewards import registry as rewards_registry
from r1jax.rewards.math import extract_answer
from r1jax.rewards.normalize import normalize
from r1jax.sampling import stop_text
from r1jax.sampling.sampler import Sampler, SamplerConfig
from r1jax.tokenizers import Tokenizer


def example_keys(seed: int, salt: int, examples: Sequence[dict]) -> jax.Array:
  """One PRNG key per example from (seed, salt, example id): independent of batch layout."""
  base = jax.random.fold_in(jax.random.key(seed), salt)
  ids = np.array([zlib.crc32(str(e.get("id", e.get("prompt", ""))).encode()) & 0x7FFFFFFF
                  for e in examples], np.int32)
  return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.asarray(ids))


def left_pad(tokenizer: Tokenizer, prompts: Sequence[str], length: int | None = None,
             multiple: int = 1):
  """Encodes prompts, left-padded to a common length (rounded up to `multiple`)."""
  enc = [tokenizer.encode(p) for p in prompts]
  P = length or max(len(e) for e in enc)
  P = -(-P // multiple) * multiple
  toks = np.full((len(enc), P), tokenizer.pad_id, np.int32)
  mask = np.zeros((len(enc), P), bool)
  for i, e in enumerate(enc):
    if len(e) > P:
      raise ValueError(f"eval prompt {i} has {len(e)} tokens, more than the prompt length {P} "
                       f"(config.data.max_prompt_len)")
    toks[i, P - len(e):] = e
    mask[i, P - len(e):] = True
  return toks, mask


def completions_text(tokenizer: Tokenizer, tokens_NxT: np.ndarray,
                     lengths_N: np.ndarray, stop_strings: Sequence[str] = ()) -> list[str]:
  """Decodes each completion up to its length. A stop token (e.g. '</answer>') stays in the
  text, since format rewards check it; a final eos is dropped. With `stop_strings`, text after
  the first one is dropped (the last kept token may carry characters past it)."""
  out = []
  for row, n in zip(tokens_NxT, lengths_N):
    ids = [int(t) for t in row[:int(n)]]
    if ids and ids[-1] == tokenizer.eos_id:
      ids = ids[:-1]
    out.append(stop_text.trim_text(tokenizer.decode(ids), stop_strings))
  return out


def answer_key(text: str, extraction: str = "strict") -> str | None:
  """The vote key for maj@k: the extracted final answer, normalised (None if absent);
  `extraction` as in `rewards.math.extract_answer`."""
  try:
    a = extract_answer(text, extraction)
    return None if a is None else normalize(a[:256])
  except Exception:  # pylint: disable=broad-except
    return None  # Model output is hostile: an unparsable answer simply casts no vote.


@dataclasses.dataclass
class EvalResult:
  metrics: dict[str, float]
  samples: list[dict]  # A few (prompt, completion, answer, correct) rows for inspection.


class Evaluator:
  """Evaluates params on fixed held-out examples; compiled once per shape."""

  def __init__(self, model_config, tokenizer: Tokenizer, examples: Sequence[dict],
               accuracy_reward: str, max_new_tokens: int, batch_size: int, k: int = 0,
               k_problems: int = 0, temperature: float = 1.0, mesh=None,
               rules=sharding.DEFAULT_RULES, seed: int = 0, stop=None,
               prompt_len: int | None = None):
    self.tok, self.examples = tokenizer, list(examples)
    self.batch_size, self.k, self.seed = batch_size, k, seed
    self.k_examples = self.examples[:k_problems] if k else []
    self.spec = rewards_registry.RewardSpec(accuracy_reward, 1.0, {})
    # `stop`: anything with .ids and .sequences (train.setup.StopTokens); None stops on eos.
    stop_ids, stop_seqs = (stop.ids, stop.sequences) if stop is not None else ((), ())
    stop_strings = tuple(getattr(stop, "strings", ()))  # Cut on decoded text: stop_text.py.
    limit = tokenizer.vocab_size if tokenizer.vocab_size < model_config.vocab_size else 0
    base = dict(max_new_tokens=max_new_tokens, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id,
                stop_token_ids=stop_ids, stop_sequences=stop_seqs, stop_strings=stop_strings,
                vocab_limit=limit)
    # The run's rules too: params placed by custom rules must meet samplers compiled for them.
    self.greedy = Sampler(model_config, SamplerConfig(temperature=0.0, n=1, **base), mesh,
                          rules)
    self.sampled = (Sampler(model_config, SamplerConfig(temperature=temperature, n=k, **base),
                            mesh, rules) if k else None)
    self.prompt_len = prompt_len or max(len(tokenizer.encode(e["prompt"]))
                                        for e in self.examples)

  @classmethod
  def from_config(cls, config, model_config, tokenizer: Tokenizer, examples: Sequence[dict],
                  mesh=None, stop=None, prompt_len: int | None = None,
                  rules=sharding.DEFAULT_RULES) -> "Evaluator":
    """The one reader of config.eval: every main evaluates through this (greedy pass@1 on
    `examples`; with eval.k, k samples at eval.temperature on the first eval.k_problems)."""
    e = config.eval
    return cls(model_config, tokenizer, examples, e.accuracy_reward,
               config.sampler.max_new_tokens, e.batch_size, e.k, e.k_problems,
               temperature=e.temperature, mesh=mesh, rules=rules, seed=config.seed, stop=stop,
               prompt_len=prompt_len)

  def _run(self, sampler, params, examples, n):
    texts, lengths = [], []
    bs = self.batch_size
    for i in range(0, len(examples), bs):
      chunk = list(examples[i:i + bs])
      real = len(chunk)
      chunk += [chunk[-1]] * (bs - real)  # Pad the last batch: one compiled shape.
      toks, mask = left_pad(self.tok, [e["prompt"] for e in chunk], self.prompt_len)
      # Raw key data: host values every process holds, like the prompts (multi-process runs
      # evaluate the same global batches everywhere and fetch the whole output).
      keys = np.asarray(jax.random.key_data(example_keys(self.seed, 7919, chunk)))
      out = distributed.fetch(sampler(params, toks, mask, keys))
      out = stop_text.cut_output(out, self.tok, sampler.cfg.stop_strings)
      t = completions_text(self.tok, out.tokens_NxT, out.lengths_N, sampler.cfg.stop_strings)
      texts += t[:real * n]
      lengths += list(out.lengths_N[:real * n])
    return texts, np.asarray(lengths)

  def _grade(self, texts, examples):
    res = rewards_registry.grade_batch(texts, list(examples), [self.spec])
    return rewards_registry.is_correct(res.total)

  def evaluate(self, params, pool=None) -> EvalResult:
    texts, lengths = self._run(self.greedy, params, self.examples, 1)
    correct = self._grade(texts, self.examples)
    m = {"eval/pass@1": float(np.mean(correct)), "eval/length": float(np.mean(lengths)),
         "eval/num_problems": float(len(self.examples))}
    samples = [dict(prompt=e["prompt"], completion=t, answer=e.get("answer"), correct=bool(c))
               for e, t, c in list(zip(self.examples, texts, correct))[:4]]
    if self.sampled is not None and self.k_examples:
      k = self.k
      texts, _ = self._run(self.sampled, params, self.k_examples, k)
      rep = [e for e in self.k_examples for _ in range(k)]
      corr = self._grade(texts, rep).reshape(len(self.k_examples), k)
      mode = rewards_registry.answer_extraction(self.spec.name)
      answers = [[answer_key(t, mode) for t in texts[i * k:(i + 1) * k]]
                 for i in range(len(self.k_examples))]
      m[f"eval/pass@{k}"] = eval_metrics.mean_pass_at_k(corr.tolist(), k)
      m["eval/sampled_pass@1"] = float(corr.mean())
      m[f"eval/maj@{k}"] = eval_metrics.maj_at_k(answers, corr.tolist(), k)
    return EvalResult(m, samples)
