"""Benchmark and distillation data from local JSON Lines, validated; sources by name.

An example is a plain dict: 'question', 'prompt' (the question rendered in a template),
'answer' (the gold final answer in the form the rewards grade), 'task', 'solution' (reference
worked solution), 'id' (stable, unique), plus per-task extras: MATH-500 'subject' and 'level';
Countdown 'numbers' and 'target'; synthetic and distillation examples 'completion' (the SFT
target, `<think>...</think><answer>...</answer>` for synthetic tasks).

A source is what the pipelines read: an indexable, deterministic sequence of examples
(`ExampleList` here, `synthetic.SyntheticSource`) or a `Mixture` of sources with rates.
`get_source(name, data_dir, split, template, **knobs)` builds one from a config.

Gold answers: GSM8K the number after '####' without thousands separators; MATH-500 the LaTeX
`answer` field as is; AIME the integer as a canonical string ('025' -> '25'); AMC the number
without a trailing '.0' ('27.0' -> '27'). AMC rows carry no worked solution ('solution' is
'').
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import re
from typing import Any, Callable, Mapping, Sequence, Union

from r1jax import templates
from r1jax.data import synthetic

# Relative to the data directory (a config value).
BENCHMARK_FILES: dict[str, dict[str, str]] = {
    "gsm8k": {"train": "gsm8k/train.jsonl", "test": "gsm8k/test.jsonl"},
    "math500": {"test": "math500/test.jsonl"},
    "aime24": {"test": "aime24/test.jsonl"},
    "amc23": {"test": "amc23/test.jsonl"},
}

HOW_TO_GET_DATA = (
    "Put the benchmarks as JSON Lines under the data directory (config value data_dir): "
    "gsm8k/{train,test}.jsonl (fields question, answer; Hugging Face openai/gsm8k 'main'), "
    "math500/test.jsonl (problem, solution, answer, subject, level, unique_id; "
    "HuggingFaceH4/MATH-500), aime24/test.jsonl (id, problem, solution, answer; the 2024 rows "
    "of AI-MO/aimo-validation-aime), amc23/test.jsonl (id, problem, answer; the 2023 rows of "
    "AI-MO/aimo-validation-amc), e.g. with datasets.load_dataset(...).to_json(path).")


class DataError(ValueError):
  """Bad or missing input data; the message names the file (and line)."""


def _type_name(types) -> str:
  types = types if isinstance(types, tuple) else (types,)
  return " or ".join(t.__name__ for t in types)


def read_jsonl(path: Union[str, pathlib.Path],
               fields: Mapping[str, Any] | None = None) -> list[tuple[int, dict]]:
  """(line number, object) per non-blank line; `fields` maps required field -> type(s)."""
  path = pathlib.Path(path)
  if not path.is_file():
    where = "" if path.parent.is_dir() else f" (directory {path.parent} does not exist)"
    raise DataError(f"{path}: file not found{where}")
  rows = []
  with path.open("rb") as f:  # Bytes, so that bad UTF-8 is reported with its line too.
    for lineno, raw in enumerate(f, start=1):
      try:
        line = raw.decode("utf-8")
      except UnicodeDecodeError as e:
        raise DataError(f"{path}:{lineno}: not UTF-8 ({e.reason} at byte {e.start})") from e
      if not line.strip():
        continue  # A trailing newline or blank separator line carries no record.
      try:
        row = json.loads(line)
      except json.JSONDecodeError as e:
        raise DataError(f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})") from e
      if not isinstance(row, dict):
        raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
      for name, types in (fields or {}).items():
        if name not in row:
          raise DataError(f"{path}:{lineno}: missing field {name!r}")
        value = row[name]
        # bool is an int subclass, but true/false is never a valid number here.
        if not isinstance(value, types) or isinstance(value, bool):
          raise DataError(f"{path}:{lineno}: field {name!r} must be {_type_name(types)}, got "
                          f"{type(value).__name__}")
      rows.append((lineno, row))
  if not rows:
    raise DataError(f"{path}:1: file is empty (no JSON lines)")
  return rows


def _integer_string(value: str | int) -> str:
  if isinstance(value, str) and not re.fullmatch(r"\s*-?\d+\s*", value):
    raise ValueError(f"field 'answer' must be an integer, got {value!r}")
  return str(int(value))


def _number_string(value: float) -> str:
  return str(int(value)) if float(value).is_integer() else repr(float(value))


def _gsm8k(row: dict, split: str, index: int) -> dict:
  _, sep, final = row["answer"].rpartition("####")
  answer = final.strip().replace(",", "")
  if not sep or not answer:
    raise ValueError("field 'answer' has no final '#### <number>' line")
  # The full answer text, <<a*b=c>> annotations included, is the reference solution.
  return {"question": row["question"], "answer": answer, "solution": row["answer"],
          "id": f"gsm8k/{split}/{index}"}


def _math500(row: dict, split: str, index: int) -> dict:
  del split, index
  return {"question": row["problem"], "answer": row["answer"], "solution": row["solution"],
          "id": f"math500/{row['unique_id']}", "subject": row["subject"], "level": row["level"]}


def _aime24(row: dict, split: str, index: int) -> dict:
  del split, index
  return {"question": row["problem"], "answer": _integer_string(row["answer"]),
          "solution": row["solution"], "id": f"aime24/{row['id']}"}


def _amc23(row: dict, split: str, index: int) -> dict:
  del split, index
  return {"question": row["problem"], "answer": _number_string(row["answer"]),
          "solution": "", "id": f"amc23/{row['id']}"}


# name -> (required fields and types, row normalizer).
BENCHMARKS: dict[str, tuple[dict[str, Any], Callable[[dict, str, int], dict]]] = {
    "gsm8k": ({"question": str, "answer": str}, _gsm8k),
    "math500": ({"problem": str, "solution": str, "answer": str, "subject": str, "level": int,
                 "unique_id": str}, _math500),
    "aime24": ({"id": int, "problem": str, "solution": str, "answer": (str, int)}, _aime24),
    "amc23": ({"id": int, "problem": str, "answer": (int, float)}, _amc23),
}


def _check_split(name: str, split: str, splits: Sequence[str]):
  if split not in splits:
    raise ValueError(f"{name}: unknown split {split!r}; choose one of {sorted(splits)}")


def read_benchmark(name: str, data_dir: Union[str, pathlib.Path], split: str) -> list[dict]:
  """Validated, normalized examples of a benchmark split, in file order (no 'prompt')."""
  if name not in BENCHMARKS:
    raise ValueError(f"unknown benchmark {name!r}; choose one of {sorted(BENCHMARKS)}")
  _check_split(name, split, BENCHMARK_FILES[name])
  path = pathlib.Path(data_dir) / BENCHMARK_FILES[name][split]
  if not pathlib.Path(data_dir).is_dir():
    raise DataError(f"data directory {data_dir} does not exist (looked for {path}). "
                    + HOW_TO_GET_DATA)
  if not path.is_file():
    raise DataError(f"{path}: file not found. " + HOW_TO_GET_DATA)
  fields, normalize = BENCHMARKS[name]
  examples, line_of_id = [], {}
  for index, (lineno, row) in enumerate(read_jsonl(path, fields)):
    try:
      ex = {"task": name, **normalize(row, split, index)}
    except ValueError as e:
      raise DataError(f"{path}:{lineno}: {e}") from e
    if ex["id"] in line_of_id:
      raise DataError(f"{path}:{lineno}: duplicate id {ex['id']!r} (first on line "
                      f"{line_of_id[ex['id']]})")
    line_of_id[ex["id"]] = lineno
    examples.append(ex)
  return examples


def read_distillation(path: Union[str, pathlib.Path], template: str) -> list[dict]:
  """Traces for SFT/distillation: rows with 'completion' and 'prompt' (used verbatim) or
  'question' (rendered in `template`); optional 'answer', 'id', 'task', 'solution'."""
  path = pathlib.Path(path)
  examples = []
  for index, (lineno, row) in enumerate(read_jsonl(path, {"completion": str})):
    text = {k: row[k] for k in ("prompt", "question", "id", "task", "solution") if k in row}
    for k, v in text.items():
      if not isinstance(v, str):
        raise DataError(f"{path}:{lineno}: field {k!r} must be str, got {type(v).__name__}")
    if "prompt" not in text and "question" not in text:
      raise DataError(f"{path}:{lineno}: missing field 'prompt' (or 'question')")
    answer = row.get("answer", "")
    if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
      raise DataError(f"{path}:{lineno}: field 'answer' must be str or number, got "
                      f"{type(answer).__name__}")
    question = text.get("question", text.get("prompt"))
    examples.append({
        "question": question,
        "prompt": text["prompt"] if "prompt" in text else templates.render(template, question),
        "answer": answer if isinstance(answer, str) else _number_string(answer),
        "task": text.get("task", "distill"),
        "solution": text.get("solution", row["completion"]),
        "completion": row["completion"],
        "id": text.get("id", f"{path.stem}/{index}"),
    })
  return examples


class ExampleList:
  """A finite, indexable source over examples held in memory."""

  def __init__(self, name: str, examples: Sequence[dict]):
    if not examples:
      raise ValueError(f"source {name!r} has no examples")
    self.name = name
    self._examples = list(examples)

  def __len__(self) -> int:
    return len(self._examples)

  def __getitem__(self, index: int) -> dict:
    return dict(self._examples[index])  # A copy: callers may annotate their examples.


@dataclasses.dataclass(frozen=True)
class Mixture:
  """Sources sampled at `rates` (normalized); each component cycles through its examples."""
  components: tuple
  rates: tuple[float, ...]
  name: str = "mixture"

  def __post_init__(self):
    if not self.components or len(self.components) != len(self.rates):
      raise ValueError(f"mixture {self.name!r}: need one rate per component, got "
                       f"{len(self.components)} components and {len(self.rates)} rates")
    if any(not r > 0 for r in self.rates):
      raise ValueError(f"mixture {self.name!r}: rates must be positive, got {self.rates}")


def with_prompts(examples: Sequence[dict], template: str) -> list[dict]:
  return [{**ex, "prompt": templates.render(template, ex["question"])} for ex in examples]


def _benchmark_source(name: str):
  def build(data_dir, split, template, **knobs):
    if knobs:
      raise ValueError(f"{name}: unknown knobs {sorted(knobs)} (benchmarks take none)")
    if data_dir is None:
      raise ValueError(f"{name}: data_dir is required. " + HOW_TO_GET_DATA)
    return ExampleList(f"{name}/{split}",
                       with_prompts(read_benchmark(name, data_dir, split), template))
  return build


def _distill_source(data_dir, split, template, file: str | None = None):
  """Reads `{data_dir}/{file}` (default `{data_dir}/{split}.jsonl`)."""
  if data_dir is None:
    raise ValueError("distill: data_dir is required")
  path = pathlib.Path(data_dir) / (file or f"{split}.jsonl")
  return ExampleList(f"distill/{path.stem}", read_distillation(path, template))


def _synthetic_source(task: str):
  def build(data_dir, split, template, **knobs):
    del data_dir  # Generated, not read.
    return synthetic.SyntheticSource(task, split, template, **knobs)
  return build


def _mixture_source(data_dir, split, template, components: Sequence[Sequence[Any]] = ()):
  """components: (name, rate) or (name, rate, knobs) entries."""
  sources, rates = [], []
  for entry in components:
    name, rate, *rest = entry
    knobs = dict(rest[0]) if rest else {}
    sources.append(get_source(name, data_dir, split, template, **knobs))
    rates.append(float(rate))
  return Mixture(tuple(sources), tuple(rates),
                 name="+".join(f"{s.name}@{r:g}" for s, r in zip(sources, rates)))


SOURCES: dict[str, Callable[..., Any]] = {
    **{name: _benchmark_source(name) for name in BENCHMARKS},
    "arith": _synthetic_source("arith"),
    "countdown": _synthetic_source("countdown"),
    "distill": _distill_source,
    "mixture": _mixture_source,
}


def get_source(name: str, data_dir: Union[str, pathlib.Path, None] = None, split: str = "train",
               template: str = "r1_zero", fields: Mapping[str, Any] | None = None, **knobs):
  """A source from config values, e.g. get_source('arith', None, 'test', 'plain', seed=1).

  'file:<path>', 'seqio:<task>' and 'tfds:<dataset>' are a user's data, with `fields`
  (config.data.fields) naming its columns (user_sources.py); the built-ins ignore `fields`.
  """
  from r1jax.data import user_sources  # pylint: disable=g-import-not-at-top
  if user_sources.is_user_source(name):
    templates.render(template, "")
    return user_sources.build(name, data_dir, split, template, fields=fields, **knobs)
  if name not in SOURCES:
    raise ValueError(f"unknown source {name!r}; choose one of {sorted(SOURCES)} or "
                     f"'file:<path>.jsonl|.parquet', 'seqio:<task>', 'tfds:<dataset>'")
  templates.render(template, "")  # Fail on an unknown template name before reading anything.
  return SOURCES[name](data_dir, split, template, **knobs)
