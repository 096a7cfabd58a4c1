"""A user's own prompt/answer data, without code changes: files, seqio tasks, TFDS datasets.

  data.source = "file:my_task/{split}.jsonl"   # or .parquet; {split} -> data.train_split etc.
  data.source = "seqio:my_task"                # a registered seqio Task
  data.knobs = dict(imports=("my_pkg.tasks",)) # modules that register it (seqio:, tfds:)
  data.source = "tfds:my_dataset"              # a TFDS dataset, read from data.data_dir
  data.fields.question = "problem"             # the column holding the question
  data.fields.answer = "final_answer"          # ... the gold answer the rewards grade

Each record becomes an r1jax example ('question', 'answer', 'prompt' rendered with
data.template, 'id', 'task', optional 'solution' / 'completion', plus the columns named in
data.fields.extras, e.g. for a custom reward). Relative file paths are under data.data_dir.
Records are checked as they are read: a missing or non-text field fails naming the file and
line (JSONL), row (Parquet) or example index (seqio, TFDS). The whole split is read into an
`ExampleList`, so runs resume exactly as with the built-in sources (the pipelines keep the
position, and the order is the file's / the dataset's unshuffled order).
"""
from __future__ import annotations

import dataclasses
import importlib
import pathlib
from typing import Any, Iterable, Mapping

from r1jax import templates
from r1jax.data import sources

PREFIXES = ("file:", "seqio:", "tfds:")


@dataclasses.dataclass(frozen=True)
class Fields:
  """Example field <- the user's column ('' = the source has none)."""
  question: str = "question"
  answer: str = "answer"
  solution: str = ""
  completion: str = ""  # SFT target (warm start / sft_main on this source).
  id: str = ""  # Stable ids ('' numbers the records: <source>/<split>/<index>).
  extras: tuple[str, ...] = ()  # Columns copied into the example as they are.

  @classmethod
  def from_mapping(cls, m: Mapping[str, Any] | None) -> "Fields":
    m = dict(m or {})
    unknown = sorted(set(m) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
      raise ValueError(f"config.data.fields: unknown field(s) {unknown}; known: "
                       f"{[f.name for f in dataclasses.fields(cls)]}")
    if "extras" in m:
      m["extras"] = tuple(m["extras"])
    out = cls(**m)
    for name in ("question", "answer"):
      if not getattr(out, name):
        raise ValueError(f"config.data.fields.{name}: must name a column")
    return out


def is_user_source(name: str) -> bool:
  return name.startswith(PREFIXES)


def _text(value, field: str, column: str, numbers_ok: bool = False) -> str:
  if isinstance(value, bytes):
    value = value.decode("utf-8")
  if numbers_ok and isinstance(value, (int, float)) and not isinstance(value, bool):
    return sources._number_string(value)  # pylint: disable=protected-access
  if not isinstance(value, str):
    raise ValueError(f"field {column!r} (data.fields.{field}) must be text"
                     f"{' or a number' if numbers_ok else ''}, got {type(value).__name__}")
  return value


def to_example(row: Mapping[str, Any], fields: Fields, where: str, task: str, default_id: str,
               template: str) -> dict:
  """One validated example from a record; errors start with `where` (file:line, ...)."""
  try:
    ex = {}
    for name in ("question", "answer", "solution", "completion", "id"):
      column = getattr(fields, name)
      if not column:
        continue
      if column not in row:
        raise ValueError(f"missing field {column!r} (data.fields.{name}); the record has "
                         f"{sorted(row)}")
      ex[name] = _text(row[column], name, column, numbers_ok=name in ("answer", "id"))
    if not ex["question"].strip():
      raise ValueError(f"field {fields.question!r} (data.fields.question) is empty")
    for column in fields.extras:
      if column not in row:
        raise ValueError(f"missing field {column!r} (data.fields.extras)")
      ex[column] = row[column]
  except ValueError as e:
    raise sources.DataError(f"{where}: {e}") from e
  ex.setdefault("id", default_id)
  ex.setdefault("solution", "")
  ex["task"] = task
  ex["prompt"] = templates.render(template, ex["question"])
  return ex


def _examples(records: Iterable[tuple[str, Mapping]], fields: Fields, name: str, split: str,
              template: str) -> sources.ExampleList:
  examples, first_of = [], {}
  for index, (where, row) in enumerate(records):
    ex = to_example(row, fields, where, name, f"{name}/{split}/{index}", template)
    if ex["id"] in first_of:
      raise sources.DataError(f"{where}: duplicate id {ex['id']!r} (first at "
                              f"{first_of[ex['id']]})")
    first_of[ex["id"]] = where
    examples.append(ex)
  if not examples:
    raise sources.DataError(f"{name}/{split}: no records")
  return sources.ExampleList(f"{name}/{split}", examples)


def _file_records(path: pathlib.Path):
  if path.suffix == ".jsonl":
    return [(f"{path}:{line}", row) for line, row in sources.read_jsonl(path)]
  if path.suffix == ".parquet":
    if not path.is_file():
      raise sources.DataError(f"{path}: file not found")
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    try:
      rows = pq.read_table(path).to_pylist()
    except Exception as e:  # pylint: disable=broad-except  (arrow raises its own types)
      raise sources.DataError(f"{path}: cannot read Parquet: {e}") from e
    return [(f"{path}:row {i + 1}", row) for i, row in enumerate(rows)]
  raise sources.DataError(f"{path}: expected a .jsonl or .parquet file")


def _file_source(pattern: str, data_dir, split: str, template: str, fields: Fields):
  path = pathlib.Path(pattern.replace("{split}", split))
  if not path.is_absolute() and data_dir:
    path = pathlib.Path(data_dir) / path
  return _examples(_file_records(path), fields, path.stem, split, template)


def _seqio_source(task_name: str, split: str, template: str, fields: Fields):
  import seqio  # pylint: disable=g-import-not-at-top
  from r1jax.data import tasks  # pylint: disable=g-import-not-at-top
  try:
    task = seqio.get_mixture_or_task(task_name)
  except ValueError as e:
    raise ValueError(f"seqio:{task_name}: not a registered seqio task (import the module that "
                     f"registers it via config.data.knobs.imports): {e}") from e
  dataset = task.get_dataset(sequence_length=None, split=split, shuffle=False)
  records = ((f"seqio:{task_name}/{split} example {i}",
              {k: tasks._to_python(v) for k, v in ex.items()})  # pylint: disable=protected-access
             for i, ex in enumerate(dataset.as_numpy_iterator()))
  return _examples(records, fields, task_name, split, template)


def _tfds_source(name: str, data_dir, split: str, template: str, fields: Fields):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from r1jax.data import tasks  # pylint: disable=g-import-not-at-top
  try:
    dataset = tfds.load(name, split=split, data_dir=data_dir or None, shuffle_files=False,
                        download=False)
  except Exception as e:  # pylint: disable=broad-except  (tfds raises many kinds)
    raise ValueError(f"tfds:{name}: cannot load split {split!r} from data_dir "
                     f"{data_dir or '(TFDS default)'}: {e}") from e
  records = ((f"tfds:{name}/{split} example {i}",
              {k: tasks._to_python(v) for k, v in ex.items()})  # pylint: disable=protected-access
             for i, ex in enumerate(tfds.as_numpy(dataset)))
  return _examples(records, fields, name.split("/")[0].split(":")[0], split, template)


def build(name: str, data_dir, split: str, template: str, fields=None,
          imports: tuple[str, ...] = (), **knobs):
  """The source for a 'file:', 'seqio:' or 'tfds:' name (see the module docstring);
  `imports`: modules imported first (they register the user's seqio tasks or TFDS builders)."""
  if knobs:
    raise ValueError(f"{name}: unknown knobs {sorted(knobs)} (only 'imports'; columns are "
                     f"mapped with config.data.fields)")
  for module in imports:
    try:
      importlib.import_module(module)
    except ImportError as e:
      raise ValueError(f"config.data.knobs.imports: cannot import {module!r}: {e}") from e
  f = fields if isinstance(fields, Fields) else Fields.from_mapping(fields)
  kind, _, rest = name.partition(":")
  if not rest:
    raise ValueError(f"data.source {name!r}: nothing after '{kind}:'")
  if kind == "file":
    return _file_source(rest, data_dir, split, template, f)
  if kind == "seqio":
    return _seqio_source(rest, split, template, f)
  return _tfds_source(rest, data_dir, split, template, f)
