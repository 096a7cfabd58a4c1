"""Rewards by name, and batch grading with time limits and failure counting.

Every registered reward is `fn(completion, example, **params) -> RewardOutput`, where
`example` is the data pipeline's dict ('answer', 'solution', 'numbers', 'target', ...) and
`params` come from the config (`RewardSpec.params`). A reward returns a float score and,
for dense rewards, steps: (character offset where the step ends, reward).

Model output never raises out of here: `call_reward` turns any exception, and any call that
runs past its time limit, into a 0 score flagged as a failure, which `grade_batch` counts per
reward; a reward that fails on every completion of a batch raises `RewardFailedError`
naming it (a run must not train on its zeros). Configuration mistakes (unknown reward or
parameter, an example missing the field a reward needs) do raise, before any grading, naming
the reward and field. A user's reward is named by import path ('pkg.mod:fn', custom.py).
Time limits: in-process (`pool=None`) a SIGALRM timer interrupts the call when grading runs
on the main thread (elsewhere the input bounds of each module are the only limit); with a
`pool.RewardPool` the limit is also enforced from outside by killing the worker.
"""
from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math as pymath
import signal
import threading
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

from r1jax.rewards import countdown as countdown_lib
from r1jax.rewards import custom as custom_lib
from r1jax.rewards import format as format_lib
from r1jax.rewards import language as language_lib
from r1jax.rewards import length as length_lib
from r1jax.rewards import math as math_lib
from r1jax.rewards import process as process_lib


class RewardOutput(NamedTuple):
  score: float
  steps: list[tuple[int, float]] | None = None


@dataclasses.dataclass(frozen=True)
class RewardSpec:
  name: str
  weight: float = 1.0
  params: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class BatchRewards:
  total: np.ndarray  # [N] float32, sum over specs of weight * score.
  per_reward: dict[str, np.ndarray]  # name -> [N] float32 unweighted scores.
  # Per completion: (offset, weighted step reward summed over rewards), sorted by offset.
  steps: list[list[tuple[int, float]]]
  failures: dict[str, int]  # name -> completions whose grading failed or timed out.


# An accuracy score at least this high counts as correct (scores are 0..1; the slack absorbs
# float32 sums of weighted rewards). Every "correct" in r1jax (training accuracy, evaluation,
# test-time scaling, rejection sampling) is `is_correct`.
CORRECT_AT = 1.0 - 1e-6


def is_correct(score):
  """score (a float or an array) >= CORRECT_AT."""
  return score >= CORRECT_AT


class GradingTimeout(BaseException):
  """Raised inside a grading call at its time limit. A BaseException so that broad
  `except Exception` blocks (ours, sympy's) cannot swallow it."""


# ----------------------------------------------------------------------------- rewards
def _is_correct(completion: str, example: Mapping) -> bool:
  if "numbers" in example and "target" in example:
    return countdown_lib.score(completion, example["numbers"], example["target"]) == 1.0
  return math_lib.grade(completion, example["answer"])


def _length(completion: str, num_tokens: int | None) -> int:
  return len(completion) if num_tokens is None else int(num_tokens)


def math_accuracy(completion: str, example: Mapping, extraction: str = "strict") -> RewardOutput:
  """1.0 when the final answer is mathematically equivalent to example['answer'] (see
  `math.grade`: <answer> tags, \\boxed{}, '#### n' or 'the answer is'; with extraction=
  "flexible" also the last math expression or number of unformatted text), else 0.0."""
  return RewardOutput(float(math_lib.grade(completion, example["answer"], extraction)))


def math_accuracy_flexible(completion: str, example: Mapping) -> RewardOutput:
  """math_accuracy with flexible extraction, by name: for eval.accuracy_reward when the model
  was not trained on R1's answer format (evaluators pass a reward name, not parameters)."""
  return math_accuracy(completion, example, extraction="flexible")


def answer_extraction(reward: str) -> str:
  """The extraction mode an accuracy reward reads answers with, so that maj@k votes on the
  answers that reward grades."""
  return "flexible" if reward == "math_accuracy_flexible" else "strict"


def format_strict(completion: str, example: Mapping, think_in_prompt: bool = False):
  """1.0 iff exactly `<think>..</think> <answer>..</answer>` (see `format.strict`)."""
  del example
  return RewardOutput(format_lib.strict(completion, think_in_prompt))


def format_lenient(completion: str, example: Mapping, think_in_prompt: bool = False):
  """1.0 iff a think block is followed by an answer block anywhere (`format.lenient`)."""
  del example
  return RewardOutput(format_lib.lenient(completion, think_in_prompt))


def format_tags(completion: str, example: Mapping, think_in_prompt: bool = False):
  """0.25 per R1 tag that appears exactly once (`format.tag_count`)."""
  del example
  return RewardOutput(format_lib.tag_count(completion, think_in_prompt))


def countdown(completion: str, example: Mapping, format_score: float = 0.0):
  """Countdown: 1.0 when the answer equation uses example['numbers'] once each and equals
  example['target']; `format_score` for a well-formed miss (`countdown.score`)."""
  return RewardOutput(countdown_lib.score(completion, example["numbers"], example["target"],
                                          format_score))


def process_steps(completion: str, example: Mapping, correct: float = 1.0,
                  incorrect: float = 0.0):
  """Dense: each `a op b = c` step and <<a*b=c>> annotation of the completion, checked
  exactly; step rewards `correct`/`incorrect`, score = share of correct steps."""
  del example
  score, steps = process_lib.self_checked(completion, correct, incorrect)
  return RewardOutput(score, steps)


def process_reference(completion: str, example: Mapping, reward: float = 1.0,
                      require_correct: bool = True):
  """Dense (Havrilla et al. 2024): a step whose result is an intermediate result of
  example['solution'] earns `reward` (each reference result once; with require_correct the
  step's arithmetic must hold); score = share of reference results reproduced."""
  score, steps = process_lib.reference_matched(completion, example["solution"], reward,
                                               require_correct)
  return RewardOutput(score, steps)


def overlong(completion: str, example: Mapping, max_len: int, cache_len: int,
             num_tokens: int | None = None):
  """DAPO soft overlong punishment in characters, or tokens when num_tokens is given:
  0 up to max_len - cache_len, linear to -1 at max_len, -1 beyond."""
  del example
  return RewardOutput(length_lib.overlong(_length(completion, num_tokens), max_len, cache_len))


def cosine_length(completion: str, example: Mapping, max_len: int,
                  min_value_wrong: float = -1.0, max_value_wrong: float = -0.5,
                  min_value_correct: float = 0.5, max_value_correct: float = 1.0,
                  exceed_penalty: float = -1.0, num_tokens: int | None = None):
  """Cosine length scaling by correctness (vs example['answer'], or the Countdown target):
  correct answers earn more when shorter, wrong ones less when shorter (`length.cosine`);
  length in characters, or tokens when num_tokens is given."""
  correct = _is_correct(completion, example)
  return RewardOutput(length_lib.cosine(
      _length(completion, num_tokens), correct, max_len, min_value_wrong, max_value_wrong,
      min_value_correct, max_value_correct, exceed_penalty))


def efficiency(completion: str, example: Mapping, max_penalty: float = 1.0):
  """Overthinking: -max_penalty * the share of the completion after the first correct
  answer (vs example['answer'], or the Countdown target); 0 if never correct."""
  return RewardOutput(length_lib.efficiency(completion, lambda span: _is_correct(span, example),
                                            max_penalty))


def repetition(completion: str, example: Mapping, ngram: int = 4, max_penalty: float = -1.0):
  """max_penalty * share of repeated word n-grams (`length.repetition`)."""
  del example
  return RewardOutput(length_lib.repetition(completion, ngram, max_penalty))


def language_consistency(completion: str, example: Mapping, script: str = "latin",
                         vocabulary: Sequence[str] | None = None):
  """Share of the chain of thought in the target script or vocabulary (`language`)."""
  del example
  return RewardOutput(language_lib.consistency(completion, script, vocabulary))


REWARDS: dict[str, Callable[..., RewardOutput]] = {
    "math_accuracy": math_accuracy,
    "math_accuracy_flexible": math_accuracy_flexible,
    "format_strict": format_strict,
    "format_lenient": format_lenient,
    "format_tags": format_tags,
    "countdown": countdown,
    "process_steps": process_steps,
    "process_reference": process_reference,
    "overlong": overlong,
    "cosine_length": cosine_length,
    "efficiency": efficiency,
    "repetition": repetition,
    "language_consistency": language_consistency,
}

# Example fields each reward reads; checked up front so a data bug fails loudly, not as zeros.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "math_accuracy": ("answer",),
    "math_accuracy_flexible": ("answer",),
    "countdown": ("numbers", "target"),
    "process_reference": ("solution",),
}
_ANSWER_OR_COUNTDOWN = ("cosine_length", "efficiency")
_PROBE_EXAMPLE = {"answer": "0", "solution": "1+1=2", "numbers": [1], "target": 1}


def get_reward(name: str) -> Callable[..., RewardOutput]:
  """A registered reward, or a user's callable named by import path ('pkg.mod:fn', see
  custom.py), resolved in the calling process (so also inside pool workers)."""
  if custom_lib.is_path(name):
    return custom_lib.resolve(name)
  if name not in REWARDS:
    raise ValueError(f"unknown reward {name!r}; known rewards: {sorted(REWARDS)}")
  return REWARDS[name]


class RewardFailedError(RuntimeError):
  """A reward failed on every completion of a batch: training on its zeros would be silent."""


def validate(specs: Sequence[RewardSpec], examples: Sequence[Mapping] = ()) -> None:
  """Raises ValueError for an unknown reward, a parameter it does not take (or, for the
  built-in rewards, a bad parameter value), or an example without a field it reads."""
  names = [spec.name for spec in specs]
  if len(set(names)) != len(names):
    raise ValueError(f"each reward may appear once in the config, got {names}")
  for spec in specs:
    fn = get_reward(spec.name)
    try:
      sig = inspect.signature(fn)
      # num_tokens is supplied at grading time (grade_batch) to rewards that declare it.
      supplied = {"num_tokens": 0} if "num_tokens" in sig.parameters else {}
      sig.bind("", {}, **{**supplied, **dict(spec.params)})
      if fn.__module__ == __name__:  # Built-ins reject bad values (cache_len > max_len) here.
        fn("", _PROBE_EXAMPLE, **dict(spec.params))
    except (TypeError, ValueError) as e:
      raise ValueError(f"reward {spec.name!r}: bad params {dict(spec.params)}: {e}") from e
    if not pymath.isfinite(spec.weight):
      raise ValueError(f"reward {spec.name!r}: weight must be finite, got {spec.weight}")
    for i, example in enumerate(examples):
      fields = REQUIRED_FIELDS.get(spec.name, ())
      if spec.name in _ANSWER_OR_COUNTDOWN and not ("numbers" in example and "target" in example):
        fields = ("answer",)
      missing = [f for f in fields if f not in example]
      if missing:
        raise ValueError(f"reward {spec.name!r} needs example field(s) {missing}; example {i} "
                         f"has {sorted(example)}")


# ----------------------------------------------------------------------------- calls
def _raise_timeout(signum, frame):
  del signum, frame
  raise GradingTimeout()


@contextlib.contextmanager
def _time_limit(seconds: float):
  """SIGALRM-based limit; a no-op off the main thread or without setitimer."""
  usable = (seconds > 0 and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread())
  if not usable:
    yield
    return
  previous = signal.signal(signal.SIGALRM, _raise_timeout)
  signal.setitimer(signal.ITIMER_REAL, seconds)
  try:
    yield
  finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def call_reward(name: str, completion: str, example: Mapping, params: Mapping,
                timeout_s: float = 1.0) -> tuple[RewardOutput, bool]:
  """(output, failed). Never raises for model output: errors and timeouts score 0."""
  try:
    with _time_limit(timeout_s):
      out = get_reward(name)(completion, example, **params)
    if not isinstance(out, RewardOutput):  # Custom rewards may return a plain number.
      out = RewardOutput(float(out))
    score = float(out.score)
    if not pymath.isfinite(score):
      raise ValueError(f"non-finite score {score}")
    steps = None if out.steps is None else [(int(o), float(r)) for o, r in out.steps]
    return RewardOutput(score, steps), False
  except (Exception, GradingTimeout):  # pylint: disable=broad-except
    return RewardOutput(0.0, None), True


def grade_batch(completions: Sequence[str], examples: Sequence[Mapping],
                specs: Sequence[RewardSpec], pool=None, timeout_s: float = 1.0,
                num_tokens: Sequence[int] | None = None,
                allow_total_failure: bool = False) -> BatchRewards:
  """Grades N completions with every spec; `pool` is a `pool.RewardPool` or None (in-process).
  `num_tokens[i]`, when given, is passed to length rewards in place of character counts.
  A reward that fails on all N completions raises `RewardFailedError` unless
  `allow_total_failure` (then its failures are only counted)."""
  n = len(completions)
  if len(examples) != n or (num_tokens is not None and len(num_tokens) != n):
    raise ValueError(f"grade_batch: {n} completions but {len(examples)} examples"
                     + ("" if num_tokens is None else f" and {len(num_tokens)} num_tokens"))
  validate(specs, examples)
  takes_tokens = [num_tokens is not None
                  and "num_tokens" in inspect.signature(get_reward(spec.name)).parameters
                  for spec in specs]
  calls = []  # (completion index, spec index, name, params)
  for i in range(n):
    for j, spec in enumerate(specs):
      params = dict(spec.params)
      if takes_tokens[j]:
        params["num_tokens"] = int(num_tokens[i])
      calls.append((i, j, spec.name, params))
  if pool is None:
    results = [call_reward(name, completions[i], examples[i], params, timeout_s)
               for i, _, name, params in calls]
  else:
    results = pool.run(completions, examples, calls, timeout_s)
  scores = np.zeros((len(specs), n), np.float32)
  steps: list[dict[int, float]] = [{} for _ in range(n)]
  failures = {spec.name: 0 for spec in specs}
  for (i, j, name, _), (out, failed) in zip(calls, results):
    scores[j, i] = out.score
    failures[name] += failed
    for offset, r in out.steps or ():
      steps[i][offset] = steps[i].get(offset, 0.0) + specs[j].weight * r
  for j, spec in enumerate(specs):
    if n and failures[spec.name] == n and not allow_total_failure:
      i, _, name, params = next(c for c in calls if c[1] == j)
      raise RewardFailedError(
          f"reward {spec.name!r} failed on all {n} completions of the batch (first: "
          f"{_failure_reason(name, completions[i], examples[i], params, timeout_s)}); "
          f"stopping instead of training on zero rewards")
  weights = np.asarray([s.weight for s in specs], np.float32).reshape(-1, 1)
  return BatchRewards(total=(weights * scores).sum(axis=0).astype(np.float32),
                      per_reward={spec.name: scores[j] for j, spec in enumerate(specs)},
                      steps=[sorted(s.items()) for s in steps],
                      failures=failures)


def _failure_reason(name: str, completion: str, example: Mapping, params: Mapping,
                    timeout_s: float) -> str:
  """Why a call failed, by running it once more in this process (for the error message)."""
  try:
    with _time_limit(timeout_s):
      out = get_reward(name)(completion, example, **params)
    score = float(out.score if isinstance(out, RewardOutput) else out)
    if not pymath.isfinite(score):
      return f"non-finite score {score}"
  except GradingTimeout:
    return f"timed out after {timeout_s} s"
  except Exception as e:  # pylint: disable=broad-except
    return f"{type(e).__name__}: {e}"
  return "failed only in the reward pool (its worker died or was killed at the time limit)"
