"""Synthetic reasoning tasks with checkable reference traces: arithmetic chains, Countdown.

Generators are plain Python: example `index` of `split` with `seed` is drawn from
`random.Random(f'{task}/{seed}/{split}/{index}')` alone, so it never depends on how many
examples were drawn before. `SyntheticSource` is an indexable view for the pipelines; the TFDS
builders (`tfds_builder`) write the same examples.

Train/test disjointness: a problem's split is fixed by a hash of its canonical key (arith: the
question; Countdown: the sorted numbers and the target): bucket 0 of TEST_BUCKETS is 'test',
the others 'train'. A generator redraws until its problem falls in its split, so the splits
never share a problem, whatever the seeds and sizes.

Arithmetic chains are evaluated LEFT TO RIGHT, and the question brackets the running
expression whenever * or / follows + or -, so ordinary precedence gives the same value:
'(37+45)*2-19' -> trace '37+45=82\\n82*2=164\\n164-19=145\\n', answer '145'. Results stay
non-negative integers: '-' never goes below zero and '/' only divides exactly.

Countdown: 3-4 numbers are combined by a random expression tree into the target, so every
target is reachable; the answer is that expression with minimal brackets, e.g. '(44-19)*3+7'
(each number used once, value = target), the trace its steps in evaluation order.

Each example: 'question', 'answer', 'solution' (the trace), 'completion'
('<think>{trace}</think><answer>{answer}</answer>', the SFT target), 'task', 'id', and for
Countdown 'numbers' and 'target'. Only characters of tokenizers.MATH_ALPHABET appear.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import random
from typing import Any, Callable

from r1jax import templates

SPLITS = ("train", "test")
TEST_BUCKETS = 10  # One problem in ten belongs to 'test'.
MAX_DRAWS = 10_000  # Redraws per example before the knobs are declared too narrow.
DEFAULT_SIZES = {"train": 1_000_000, "test": 1_000}  # Indexable sizes; generation is lazy.

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}


def split_of(key: str) -> str:
  digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
  return "test" if int.from_bytes(digest, "big") % TEST_BUCKETS == 0 else "train"


# Knobs added after ids were first written: left out of the fingerprint while at their
# default, so every earlier task keeps its example ids.
_LATER_KNOBS = {"recheck_rate": 0.0, "switch_rate": 0.0}

# The thought-switch line of a switching teacher (ArithConfig.switch_rate): the word the
# underthinking paper counts ("Alternatively, ..."); its first character appears nowhere else
# in the toy's traces, so TIP on that token penalises switches and nothing else.
SWITCH_WORD = "Alternatively"


def _fingerprint(value: Any) -> str:
  if dataclasses.is_dataclass(value):
    fields = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)
              if _LATER_KNOBS.get(f.name, object()) != getattr(value, f.name)]
    value = f"{type(value).__name__}({', '.join(f'{k}={v!r}' for k, v in fields)})"
    return hashlib.blake2b(value.encode(), digest_size=4).hexdigest()
  return hashlib.blake2b(repr(value).encode(), digest_size=4).hexdigest()


def _apply(a: int, op: str, b: int) -> int:
  return {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]


def _check_operators(task: str, operators: str):
  if not operators or set(operators) - set(_PREC) or len(set(operators)) != len(operators):
    raise ValueError(f"{task}: operators must be distinct characters of '+-*/', got "
                     f"{operators!r}")
  if not set(operators) & set("+*"):
    raise ValueError(f"{task}: operators need '+' or '*' (always applicable), got {operators!r}")


@dataclasses.dataclass(frozen=True)
class ArithConfig:
  """Difficulty knobs of arithmetic chains."""
  min_ops: int = 2
  max_ops: int = 3
  digits: int = 2  # Max digits of the first number and of + and - operands.
  mul_digits: int = 1  # Max digits of * and / operands; keeps products short.
  operators: str = "+-*"
  # Probability that the reference completion (the SFT target only) stops one step early and
  # answers with that intermediate result: a sloppy teacher, like imperfect cold-start data,
  # whose habit RL with the accuracy reward can repair. 'answer'/'solution' stay correct.
  truncate_rate: float = 0.0
  # Probability that the reference completion, its chain done, checks its last step again
  # (the line written once more before </think>): redundant tokens after the answer is known,
  # the overthinking habit a length penalty should remove without costing accuracy. Drawn
  # from its own stream, so it changes neither the problem nor the truncate_rate draw.
  recheck_rate: float = 0.0
  # Probability that the reference completion abandons its chain after a random number of
  # steps (1 .. all but the last), writes the SWITCH_WORD line and starts again from the
  # first step: a correct line of thought dropped for another (the underthinking paper's
  # thought switch), which costs tokens and nothing else. Its own stream, like recheck_rate.
  switch_rate: float = 0.0

  def validate(self):
    if not 1 <= self.min_ops <= self.max_ops:
      raise ValueError(f"arith: need 1 <= min_ops <= max_ops, got {self.min_ops}, "
                       f"{self.max_ops}")
    if self.digits < 1 or self.mul_digits < 1:
      raise ValueError(f"arith: digits and mul_digits must be >= 1, got {self.digits}, "
                       f"{self.mul_digits}")
    for knob in ("truncate_rate", "recheck_rate", "switch_rate"):
      if not 0.0 <= getattr(self, knob) <= 1.0:
        raise ValueError(f"arith: {knob} must be in [0, 1], got {getattr(self, knob)}")
    _check_operators("arith", self.operators)


@dataclasses.dataclass(frozen=True)
class CountdownConfig:
  """Difficulty knobs of Countdown."""
  min_numbers: int = 3
  max_numbers: int = 4
  max_number: int = 99  # Numbers are drawn from [1, max_number].
  max_target: int = 100  # Targets lie in [1, max_target].
  operators: str = "+-*/"

  def validate(self):
    if not 2 <= self.min_numbers <= self.max_numbers <= 6:
      raise ValueError(f"countdown: need 2 <= min_numbers <= max_numbers <= 6, got "
                       f"{self.min_numbers}, {self.max_numbers}")
    if self.max_number < 2 or self.max_target < 1:
      raise ValueError(f"countdown: need max_number >= 2 and max_target >= 1, got "
                       f"{self.max_number}, {self.max_target}")
    _check_operators("countdown", self.operators)


DIFFICULTIES: dict[str, dict[str, Any]] = {
    "arith": {
        "easy": ArithConfig(min_ops=1, max_ops=2, digits=2, operators="+-"),
        "medium": ArithConfig(),
        "hard": ArithConfig(min_ops=3, max_ops=5, digits=3, mul_digits=2, operators="+-*/"),
    },
    "countdown": {
        "easy": CountdownConfig(min_numbers=3, max_numbers=3, max_number=20, max_target=50),
        "medium": CountdownConfig(),
        "hard": CountdownConfig(min_numbers=4, max_numbers=4, max_target=1000),
    },
}


def make_config(task: str, difficulty: str = "medium", **knobs):
  """A preset difficulty with individual knobs overridden, validated."""
  if task not in DIFFICULTIES:
    raise ValueError(f"unknown synthetic task {task!r}; choose one of {sorted(DIFFICULTIES)}")
  if difficulty not in DIFFICULTIES[task]:
    raise ValueError(f"{task}: unknown difficulty {difficulty!r}; choose one of "
                     f"{sorted(DIFFICULTIES[task])}")
  preset = DIFFICULTIES[task][difficulty]
  fields = {f.name for f in dataclasses.fields(preset)}
  if set(knobs) - fields:
    raise ValueError(f"{task}: unknown knobs {sorted(set(knobs) - fields)}; choose from "
                     f"{sorted(fields)}")
  config = dataclasses.replace(preset, **knobs)
  config.validate()
  return config


def _arith_operands(value: int, operators: str, hi: int, mul_hi: int) -> dict[str, Any]:
  """op -> the operands that keep the chain a non-negative integer (non-trivial ones)."""
  options = {
      "+": range(1, hi + 1),
      "-": range(1, min(value, hi) + 1),
      "*": range(2, mul_hi + 1),
      "/": [d for d in range(2, mul_hi + 1) if value > 0 and value % d == 0],
  }
  return {op: options[op] for op in operators if len(options[op])}


def _draw_chain(rng: random.Random, cfg: ArithConfig) -> tuple[str, int, list[str]]:
  hi, mul_hi = 10**cfg.digits - 1, 10**cfg.mul_digits - 1
  value = rng.randint(1, hi)
  expr, top = str(value), None
  steps = []
  for _ in range(rng.randint(cfg.min_ops, cfg.max_ops)):
    options = _arith_operands(value, cfg.operators, hi, mul_hi)
    op = rng.choice(list(options))
    b = rng.choice(options[op])
    if top is not None and _PREC[op] > _PREC[top]:
      expr = f"({expr})"
    result = _apply(value, op, b)
    steps.append(f"{value}{op}{b}={result}")
    expr, top, value = f"{expr}{op}{b}", op, result
  return expr, value, steps


def _join(left: tuple, op: str, right: tuple) -> str:
  """Minimal brackets for `left op right`; items are (value, expr, top-level op or None)."""
  lexpr, rexpr = left[1], right[1]
  if left[2] is not None and _PREC[left[2]] < _PREC[op]:
    lexpr = f"({lexpr})"
  if right[2] is not None and (_PREC[right[2]] < _PREC[op] or
                               (_PREC[right[2]] == _PREC[op] and op in "-/")):
    rexpr = f"({rexpr})"
  return f"{lexpr}{op}{rexpr}"


def _draw_countdown(rng: random.Random, cfg: CountdownConfig):
  count = rng.randint(cfg.min_numbers, cfg.max_numbers)
  numbers = [rng.randint(1, cfg.max_number) for _ in range(count)]
  items = [(n, str(n), None) for n in numbers]
  steps = []
  while len(items) > 1:
    i, j = rng.sample(range(len(items)), 2)
    x, y = items[i], items[j]
    big, small = (x, y) if x[0] >= y[0] else (y, x)
    choices = []
    for op in cfg.operators:
      if op in "+*":
        choices.append((x, op, y))
      elif op == "-" and big[0] != small[0]:  # Positive results only.
        choices.append((big, op, small))
      elif op == "/" and small[0] > 1 and big[0] % small[0] == 0:
        choices.append((big, op, small))
    left, op, right = rng.choice(choices)
    value = _apply(left[0], op, right[0])
    steps.append(f"{left[0]}{op}{right[0]}={value}")
    items = [it for k, it in enumerate(items) if k not in (i, j)]
    items.append((value, _join(left, op, right), op))
  return numbers, items[0][0], items[0][1], steps


def _example(task: str, cfg, seed: int, split: str, index: int, answer: str,
             steps: list[str]) -> dict:
  trace = "".join(f"{s}\n" for s in steps)
  return {"answer": answer, "solution": trace,
          "completion": f"<think>{trace}</think><answer>{answer}</answer>", "task": task,
          "id": f"{task}/{_fingerprint(cfg)}/{seed}/{split}/{index}"}


def arith_example(cfg: ArithConfig, seed: int, split: str, index: int) -> dict:
  rng = random.Random(f"arith/{seed}/{split}/{index}")
  for _ in range(MAX_DRAWS):
    question, value, steps = _draw_chain(rng, cfg)
    if split_of(question) == split:
      ex = {"question": question, **_example("arith", cfg, seed, split, index, str(value), steps)}
      # A separate stream, so the knob never changes which problem example i is.
      sloppy = random.Random(f"arith-truncate/{seed}/{split}/{index}").random()
      written, answer = steps, str(value)
      if len(steps) > 1 and sloppy < cfg.truncate_rate:
        written, answer = steps[:-1], steps[-2].split("=")[-1]
      if random.Random(f"arith-recheck/{seed}/{split}/{index}").random() < cfg.recheck_rate:
        written = written + written[-1:]
      switch = random.Random(f"arith-switch/{seed}/{split}/{index}")
      if len(written) > 1 and switch.random() < cfg.switch_rate:
        kept = switch.randint(1, len(written) - 1)
        written = written[:kept] + [SWITCH_WORD] + written
      if written is not steps:
        ex["completion"] = (f"<think>{''.join(f'{x}{chr(10)}' for x in written)}</think>"
                            f"<answer>{answer}</answer>")
      return ex
  raise ValueError(f"arith: no {split} problem in {MAX_DRAWS} draws for {cfg}; widen the knobs")


def countdown_example(cfg: CountdownConfig, seed: int, split: str, index: int) -> dict:
  rng = random.Random(f"countdown/{seed}/{split}/{index}")
  for _ in range(MAX_DRAWS):
    numbers, target, expr, steps = _draw_countdown(rng, cfg)
    key = ",".join(map(str, sorted(numbers))) + f"={target}"
    if 1 <= target <= cfg.max_target and split_of(key) == split:
      question = f"Use {', '.join(map(str, numbers))} once each with + - * / to make {target}."
      return {"question": question, "numbers": numbers, "target": target,
              **_example("countdown", cfg, seed, split, index, expr, steps)}
  raise ValueError(f"countdown: no {split} problem in {MAX_DRAWS} draws for {cfg}; widen "
                   f"the knobs")


GENERATORS: dict[str, Callable[[Any, int, str, int], dict]] = {
    "arith": arith_example,
    "countdown": countdown_example,
}


def generate(task: str, cfg, seed: int, split: str, index: int) -> dict:
  """Example `index` of `split` (without 'prompt')."""
  if split not in SPLITS:
    raise ValueError(f"{task}: unknown split {split!r}; choose one of {list(SPLITS)}")
  return GENERATORS[task](cfg, seed, split, index)


class SyntheticSource:
  """Indexable view of a synthetic split: example i is generated on access."""

  def __init__(self, task: str, split: str, template: str = "r1_zero",
               difficulty: str = "medium", seed: int = 0, num_examples: int | None = None,
               **knobs):
    self.config = make_config(task, difficulty, **knobs)
    if split not in SPLITS:
      raise ValueError(f"{task}: unknown split {split!r}; choose one of {list(SPLITS)}")
    self.task, self.split, self.template, self.seed = task, split, template, seed
    self.num_examples = DEFAULT_SIZES[split] if num_examples is None else num_examples
    if self.num_examples < 1:
      raise ValueError(f"{task}: num_examples must be >= 1, got {self.num_examples}")
    self.name = f"{task}-{difficulty}/{split}"

  def __len__(self) -> int:
    return self.num_examples

  def __getitem__(self, index: int) -> dict:
    if not 0 <= index < self.num_examples:
      raise IndexError(f"{self.name}: index {index} out of range [0, {self.num_examples})")
    ex = generate(self.task, self.config, self.seed, self.split, index)
    ex["prompt"] = templates.render(self.template, ex["question"])
    return ex


_TEXT_FEATURES = ("question", "answer", "solution", "completion", "task", "id")


@functools.cache
def _tfds_classes():
  """Defined on first use: TFDS (and TensorFlow) stay out of the pipelines' imports."""
  import numpy as np
  import tensorflow_datasets as tfds

  @dataclasses.dataclass(eq=False)
  class SyntheticConfig(tfds.core.BuilderConfig):
    task_config: Any = None
    seed: int = 0
    num_train: int = 100_000
    num_test: int = 1_000

  class Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Writes `generate(TASK, ...)` for indices 0..n-1 of each split, in index order."""
    TASK = ""
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
      features = {k: tfds.features.Text() for k in _TEXT_FEATURES}
      if self.TASK == "countdown":
        features["numbers"] = tfds.features.Sequence(tfds.features.Scalar(np.int32))
        features["target"] = tfds.features.Scalar(np.int32)
      return tfds.core.DatasetInfo(
          builder=self, description=f"r1jax synthetic {self.TASK} task",
          features=tfds.features.FeaturesDict(features), disable_shuffling=True)

    def _split_generators(self, dl_manager):
      del dl_manager  # Generated, nothing to download.
      cfg = self.builder_config
      return {"train": self._generate_examples("train", cfg.num_train),
              "test": self._generate_examples("test", cfg.num_test)}

    def _generate_examples(self, split, num):
      cfg = self.builder_config
      for index in range(num):
        yield index, generate(self.TASK, cfg.task_config, cfg.seed, split, index)

  def presets(task):
    return [SyntheticConfig(name=name, description=f"{task} {name}", task_config=cfg)
            for name, cfg in DIFFICULTIES[task].items()]

  class R1jaxArith(Builder):
    TASK = "arith"
    BUILDER_CONFIGS = presets("arith")

  class R1jaxCountdown(Builder):
    TASK = "countdown"
    BUILDER_CONFIGS = presets("countdown")

  return SyntheticConfig, {"arith": R1jaxArith, "countdown": R1jaxCountdown}


def tfds_builder(task: str, data_dir, difficulty: str = "medium", seed: int = 0,
                 num_train: int = 100_000, num_test: int = 1_000, **knobs):
  """The TFDS builder of a synthetic task ('r1jax_arith' / 'r1jax_countdown'); call
  `download_and_prepare()` then `as_dataset(split)`. The config name carries a fingerprint of
  every knob, so different settings never share files."""
  config_class, builders = _tfds_classes()
  cfg = make_config(task, difficulty, **knobs)
  name = f"{difficulty}_{_fingerprint((cfg, seed, num_train, num_test))}"
  config = config_class(name=name, description=f"{task} {cfg} seed={seed}", task_config=cfg,
                        seed=seed, num_train=num_train, num_test=num_test)
  return builders[task](data_dir=str(data_dir), config=config)
