"""RL prompt batches and SFT batches over sources: per-host shards, exact resume.

Shape legend: B rows per process (batch_size // process_count), P max_prompt_len,
T max_len.

Order. Epoch e of an indexable source is the permutation drawn from (seed, stream, e)
(the identity without shuffle); epochs follow one another endlessly, and position i of that
endless sequence is example perm_{i // size}[i % size]. Positions are dealt to the n processes
in blocks of B: process p reads blocks p, p + n, p + 2n, ... and fills its B rows from them in
order; the global batch is the process batches concatenated in process order (what
jax.make_array_from_process_local_data expects). So, with nothing skipped, global step k holds
positions [k * batch_size, (k + 1) * batch_size) in order whatever n is: row r of process p is
position k * batch_size + p * B + r, and a run on n hosts sees exactly the batches of a run on
one, across epoch ends too.
A `Mixture` draws a component for draw d of process p from Random(f'{seed}/{stream}/{p}/{d}')
by rate and takes that component's next example (each component is its own stream as above).

Too long. An example whose prompt (RL) or prompt + completion + eos (SFT) has more tokens than
the limit is skipped and counted (`num_skipped`, kept in the state); if a whole epoch's worth
is skipped in a row, the pipeline raises.

Resume. `state()` is a JSON-serialisable dict of this process's position; `restore(state)` on
a pipeline built with the same arguments continues with exactly the batches an uninterrupted
run would have produced. Positions differ per process: in a multi-host run every process
saves and restores its own state. `reshard_states` maps the states of n processes onto m
when the positions allow it (see there), so a run can resume on a different number of hosts.
"""
from __future__ import annotations

import abc
import bisect
import dataclasses
import itertools
import random
from typing import Any, Iterator, Sequence

import numpy as np

from r1jax.data.sources import Mixture
from r1jax.tokenizers import Tokenizer


def first_examples(source, n: int | None = None) -> list[dict]:
  """The first n (default all) examples of an indexable source, in order: evaluation sets."""
  if isinstance(source, Mixture):
    raise TypeError("first_examples: evaluate the components of a mixture one by one")
  count = len(source) if n is None else min(n, len(source))
  return [source[i] for i in range(count)]


class _IndexStream:
  """This process's walk over one indexable source: its blocks of the endless epoch sequence."""

  def __init__(self, source, seed: int, shuffle: bool, process_index: int,
               process_count: int, stream: Sequence[int], block: int = 1):
    if len(source) < process_count:
      raise ValueError(f"source {source.name!r} has {len(source)} examples, fewer than the "
                       f"{process_count} processes reading it")
    self._source, self._seed, self._shuffle, self._stream = source, seed, shuffle, tuple(stream)
    self._first, self._step, self._block = process_index, process_count, block
    self.epoch_size = len(source)
    self._reads = 0  # Examples this process has taken (or skipped) so far.
    self._perm, self._perm_epoch, self._peeked = None, -1, None

  def _global_position(self) -> int:
    """Position of this process's next read in the epochs laid end to end (block-dealt)."""
    blocks, r = divmod(self._reads, self._block)
    return (blocks * self._step + self._first) * self._block + r

  def _index(self) -> int:
    epoch, offset = divmod(self._global_position(), self.epoch_size)
    if not self._shuffle:
      return offset
    if self._perm_epoch != epoch:
      rng = np.random.default_rng([self._seed, *self._stream, epoch])
      self._perm, self._perm_epoch = rng.permutation(self.epoch_size), epoch
    return int(self._perm[offset])

  def peek(self) -> dict:
    if self._peeked is None:
      self._peeked = self._source[self._index()]
    return self._peeked

  def advance(self):
    self._reads += 1
    self._peeked = None

  def state(self) -> dict:
    return {"reads": self._reads}

  def restore(self, state: dict):
    if "reads" not in state:
      raise ValueError(f"restore: stream state {state!r} is not a data position of this "
                       "version (expected {'reads': n})")
    self._reads, self._peeked = int(state["reads"]), None


class _MixtureStream:
  """Draws a component per example by rate; components keep their own positions."""

  def __init__(self, mixture: Mixture, seed: int, shuffle: bool, process_index: int,
               process_count: int, stream: Sequence[int], block: int = 1):
    self._children = [_make_stream(c, seed, shuffle, process_index, process_count,
                                   (*stream, k + 1), block)
                      for k, c in enumerate(mixture.components)]
    total = sum(mixture.rates)
    self._cumulative = list(itertools.accumulate(r / total for r in mixture.rates))
    self._key = f"{seed}/{'.'.join(map(str, stream))}/{process_index}"
    self.epoch_size = sum(c.epoch_size for c in self._children)
    self._draws = 0

  def _child(self):
    u = random.Random(f"{self._key}/{self._draws}").random()
    k = min(bisect.bisect_right(self._cumulative, u), len(self._children) - 1)
    return self._children[k]

  def peek(self) -> dict:
    return self._child().peek()

  def advance(self):
    self._child().advance()
    self._draws += 1

  def state(self) -> dict:
    return {"draws": self._draws, "components": [c.state() for c in self._children]}

  def restore(self, state: dict):
    if len(state["components"]) != len(self._children):
      raise ValueError(f"restore: state has {len(state['components'])} mixture components, "
                       f"the source has {len(self._children)}")
    self._draws = int(state["draws"])
    for child, child_state in zip(self._children, state["components"]):
      child.restore(child_state)


def _make_stream(source, seed, shuffle, process_index, process_count, stream=(0,), block=1):
  cls = _MixtureStream if isinstance(source, Mixture) else _IndexStream
  return cls(source, seed, shuffle, process_index, process_count, stream, block)


class _Reader(abc.ABC):
  """Shared by both pipelines: the stream, the skip policy and the state."""

  _KIND = ""

  def __init__(self, source, batch_size: int, tokenizer: Tokenizer, limit: int, seed: int,
               shuffle: bool, process_index: int, process_count: int):
    if process_count < 1 or not 0 <= process_index < process_count:
      raise ValueError(f"need 0 <= process_index < process_count, got {process_index}, "
                       f"{process_count}")
    if batch_size < 1 or batch_size % process_count:
      raise ValueError(f"batch_size {batch_size} must be a positive multiple of "
                       f"process_count {process_count}")
    if limit < 1:
      raise ValueError(f"the token limit must be >= 1, got {limit}")
    if seed < 0 or int(seed) != seed:
      raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)  # JSON-able in the state, whatever integer type the config held.
    self.tokenizer, self.seed, self.limit = tokenizer, seed, limit
    self.global_batch_size, self.batch_size = batch_size, batch_size // process_count
    self._identity = {"kind": self._KIND, "source": source.name, "seed": seed,
                      "shuffle": shuffle, "batch_size": batch_size,
                      "process_index": process_index, "process_count": process_count}
    self._stream = _make_stream(source, seed, shuffle, process_index, process_count,
                                block=self.batch_size)
    self.num_skipped = 0
    self._cached: tuple[Any, Any] = (None, None)

  @abc.abstractmethod
  def _encode(self, example: dict):
    """Token ids of an example, as `_length` and `next` expect them."""

  @abc.abstractmethod
  def _length(self, encoded) -> int:
    """Tokens the encoded example occupies (compared with the limit)."""

  def _peek(self) -> tuple[dict, Any]:
    """The next example that fits the limit and its encoding, skipping (and counting) others."""
    for _ in range(self._stream.epoch_size + 1):
      example = self._stream.peek()
      if self._cached[0] is not example:  # Encode once, even if it waits for the next row.
        self._cached = (example, self._encode(example))
      if self._length(self._cached[1]) <= self.limit:
        return example, self._cached[1]
      self._stream.advance()
      self.num_skipped += 1
    raise ValueError(f"{type(self).__name__}: a whole epoch of {self._identity['source']!r} "
                     f"is longer than {self.limit} tokens")

  def state(self) -> dict:
    return {**self._identity, "stream": self._stream.state(), "skipped": self.num_skipped}

  def restore(self, state: dict):
    for key, value in self._identity.items():
      if state.get(key) != value:
        hint = (" (every process saves and restores its own state)"
                if key.startswith("process_") else "")
        raise ValueError(f"restore: state has {key}={state.get(key)!r}, this pipeline has "
                         f"{value!r}{hint}")
    self._stream.restore(state["stream"])
    self.num_skipped = int(state["skipped"])

  def __iter__(self) -> Iterator:
    return self

  def __next__(self):
    return self.next()

  @abc.abstractmethod
  def next(self):
    """The next batch."""


def reshard_states(states: Sequence[dict], process_count: int) -> list[dict]:
  """The states of n processes' pipelines -> those of `process_count` processes.

  Same count: returned as they are. Another count: possible when every process of a plain
  source has read the same whole number of its batches, i.e. together they consumed positions
  [0, reads * n) (true with nothing skipped, as in checkpoints taken between steps); the m new
  processes then continue from position reads * n. Mixtures draw their components per process,
  so their positions cannot be re-dealt: resume those on n processes.
  """
  n = len(states)
  if n < 1 or process_count < 1:
    raise ValueError(f"reshard_states: need states and process_count >= 1, got {n} states "
                     f"and {process_count}")
  for i, st in enumerate(states):
    if st.get("process_index") != i or st.get("process_count") != n:
      raise ValueError(f"reshard_states: state {i} says process {st.get('process_index')} of "
                       f"{st.get('process_count')}; expected process {i} of {n}")
  if process_count == n:
    return [dict(st) for st in states]
  streams = [st["stream"] for st in states]
  if any(set(s) != {"reads"} for s in streams):
    raise ValueError(f"data positions of a mixture were saved by {n} processes and can only be "
                     f"restored by {n} (this run has {process_count})")
  if any(s != streams[0] for s in streams):
    raise ValueError(f"data positions differ between the {n} saving processes ({streams}), so "
                     f"they cannot be re-dealt to {process_count}; resume with {n} processes")
  consumed, batch = streams[0]["reads"] * n, int(states[0]["batch_size"])
  if consumed % batch:
    raise ValueError(f"{consumed} examples of the epoch were read by {n} processes, not whole "
                     f"batches of {batch}; resume with {n} processes")
  out = []
  for p in range(process_count):
    st = dict(states[0], process_index=p, process_count=process_count,
              stream={"reads": consumed // process_count},
              skipped=sum(int(s["skipped"]) for s in states) if p == 0 else 0)
    out.append(st)
  return out


@dataclasses.dataclass
class PromptBatch:
  prompt_tokens_BxP: np.ndarray  # int32, left-padded with tokenizer.pad_id
  prompt_mask_BxP: np.ndarray  # bool, True on prompt tokens
  examples: list[dict]  # row-aligned: answer, task, id, numbers/target, ...


class RLPromptPipeline(_Reader):
  """Endless prompt batches for RL; the gold answer and task metadata ride in `examples`."""

  _KIND = "rl"

  def __init__(self, source, batch_size: int, tokenizer: Tokenizer, max_prompt_len: int,
               seed: int, shuffle: bool = True, process_index: int = 0,
               process_count: int = 1, add_bos: bool = False):
    super().__init__(source, batch_size, tokenizer, max_prompt_len, seed, shuffle,
                     process_index, process_count)
    self.add_bos = add_bos

  def _encode(self, example):
    return self.tokenizer.encode(example["prompt"], add_bos=self.add_bos)

  def _length(self, encoded) -> int:
    return len(encoded)

  def next(self) -> PromptBatch:
    tokens = np.full((self.batch_size, self.limit), self.tokenizer.pad_id, np.int32)
    mask = np.zeros((self.batch_size, self.limit), bool)
    examples = []
    for row in range(self.batch_size):
      example, ids = self._peek()
      self._stream.advance()
      # Left padding: every prompt ends at column P - 1, where decoding starts.
      tokens[row, self.limit - len(ids):] = ids
      mask[row, self.limit - len(ids):] = True
      examples.append(example)
    return PromptBatch(tokens, mask, examples)


@dataclasses.dataclass
class SFTBatch:
  tokens_BxT: np.ndarray  # int32: prompt, completion, eos; pad_id after the last segment
  loss_mask_BxT: np.ndarray  # float32: 1 on completion tokens and their eos
  segment_ids_BxT: np.ndarray  # int32: 0 padding, 1.. per packed sequence in the row
  positions_BxT: np.ndarray  # int32: restart at 0 in each segment


class SFTPipeline(_Reader):
  """(prompt, completion) batches: one example per row padded, or several packed.

  Packing is next-fit: examples go into a row in stream order until the next does not fit;
  it then starts the next row (or the next batch). loss_mask marks the tokens to predict
  (completion + eos) at their own positions: a trainer shifts it with the targets.
  """

  _KIND = "sft"

  def __init__(self, source, batch_size: int, tokenizer: Tokenizer, max_len: int, seed: int,
               pack: bool = False, shuffle: bool = True, process_index: int = 0,
               process_count: int = 1, add_bos: bool = False):
    super().__init__(source, batch_size, tokenizer, max_len, seed, shuffle, process_index,
                     process_count)
    self._identity["pack"] = pack
    self.pack, self.add_bos = pack, add_bos

  def _encode(self, example):
    if "completion" not in example:
      raise ValueError(f"SFTPipeline: example {example.get('id')!r} of task "
                       f"{example.get('task')!r} has no 'completion'; use a synthetic task or "
                       f"a distillation JSONL")
    prompt = self.tokenizer.encode(example["prompt"], add_bos=self.add_bos)
    return prompt, self.tokenizer.encode(example["completion"]) + [self.tokenizer.eos_id]

  def _length(self, encoded) -> int:
    return len(encoded[0]) + len(encoded[1])

  def next(self) -> SFTBatch:
    shape = (self.batch_size, self.limit)
    tokens = np.full(shape, self.tokenizer.pad_id, np.int32)
    loss_mask = np.zeros(shape, np.float32)
    segments = np.zeros(shape, np.int32)
    positions = np.zeros(shape, np.int32)
    for row in range(self.batch_size):
      col, segment = 0, 0
      while True:
        _, (prompt, completion) = self._peek()
        n = len(prompt) + len(completion)
        if col + n > self.limit:
          break  # Only once the row holds something: a lone example always fits.
        segment += 1
        tokens[row, col:col + n] = prompt + completion
        loss_mask[row, col + len(prompt):col + n] = 1.0
        segments[row, col:col + n] = segment
        positions[row, col:col + n] = np.arange(n)
        col += n
        self._stream.advance()
        if not self.pack:
          break
    return SFTBatch(tokens, loss_mask, segments, positions)
