"""A user's data without code changes: JSONL / Parquet files, seqio tasks and TFDS datasets
with a field mapping; errors name the file and line (or row / example)."""
import json

import pytest

from r1jax.data import pipeline, sources, synthetic
from r1jax.tokenizers import char_tokenizer_for_math

FIELDS = {"question": "problem", "answer": "final", "id": "uid", "extras": ("level",)}


def _write_jsonl(path, rows):
  path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
  return path


def _rows(n=6):
  return [{"problem": f"{i}+{i}", "final": 2 * i if i % 2 else str(2 * i), "uid": f"u{i}",
           "level": i % 3} for i in range(n)]


def test_jsonl_with_field_mapping(tmp_path):
  _write_jsonl(tmp_path / "train.jsonl", _rows())
  src = sources.get_source("file:{split}.jsonl", tmp_path, "train", "plain", fields=FIELDS)
  assert len(src) == 6
  ex = src[3]
  assert ex["question"] == "3+3" and ex["answer"] == "6" and ex["id"] == "u3"
  assert ex["level"] == 0 and ex["prompt"] == "3+3\n" and ex["task"] == "train"


@pytest.mark.parametrize("bad, message", [
    ({"final": "1", "uid": "x"}, r"train.jsonl:3: missing field 'problem' \(data.fields.question\)"),
    ({"problem": ["a"], "final": "1", "uid": "x"}, r"train.jsonl:3: field 'problem'.*must be text"),
    ({"problem": " ", "final": "1", "uid": "x"}, r"train.jsonl:3: .*is empty"),
    ({"problem": "q", "final": "1", "uid": "u0"}, r"train.jsonl:3: duplicate id 'u0'"),
    ("{not json", r"train.jsonl:3: invalid JSON"),
])
def test_bad_records_name_file_and_line(tmp_path, bad, message):
  rows = _rows(2)
  for r in rows:
    del r["level"]
  _write_jsonl(tmp_path / "train.jsonl", rows + [bad])
  fields = {k: v for k, v in FIELDS.items() if k != "extras"}
  with pytest.raises(sources.DataError, match=message):
    sources.get_source("file:train.jsonl", tmp_path, "train", "plain", fields=fields)


def test_parquet_rows_and_errors(tmp_path):
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  rows = [{**r, "final": str(r["final"])} for r in _rows()]
  pq.write_table(pa.Table.from_pylist(rows), tmp_path / "test.parquet")
  src = sources.get_source(f"file:{tmp_path}/{{split}}.parquet", None, "test", "plain",
                           fields=FIELDS)
  assert [src[i]["answer"] for i in range(6)] == ["0", "2", "4", "6", "8", "10"]
  pq.write_table(pa.Table.from_pylist(rows[:1] + [{"problem": "q", "uid": "v"}]),
                 tmp_path / "bad.parquet")
  with pytest.raises(sources.DataError, match=r"bad.parquet:row 2: field 'final'.*got NoneType"):
    sources.get_source("file:bad.parquet", tmp_path, "x", "plain", fields=FIELDS)


def test_unknown_field_and_knob_are_named(tmp_path):
  _write_jsonl(tmp_path / "train.jsonl", _rows())
  with pytest.raises(ValueError, match=r"config.data.fields: unknown field\(s\) \['prompt'\]"):
    sources.get_source("file:train.jsonl", tmp_path, "train", "plain", fields={"prompt": "x"})
  with pytest.raises(ValueError, match="unknown knobs"):
    sources.get_source("file:train.jsonl", tmp_path, "train", "plain", fields=FIELDS, seed=1)


def test_file_source_resumes_exactly_in_the_rl_pipeline(tmp_path):
  _write_jsonl(tmp_path / "train.jsonl", [{"problem": f"{i}+1", "final": str(i + 1), "uid": i}
                                          for i in range(10)])
  fields = {"question": "problem", "answer": "final", "id": "uid"}
  make = lambda: pipeline.RLPromptPipeline(
      sources.get_source("file:train.jsonl", tmp_path, "train", "plain", fields=fields), 4,
      char_tokenizer_for_math(), 8, seed=3)
  straight = make()
  ids = [[e["id"] for e in straight.next().examples] for _ in range(5)]
  first = make()
  for _ in range(2):
    first.next()
  resumed = make()
  resumed.restore(json.loads(json.dumps(first.state())))
  assert [[e["id"] for e in resumed.next().examples] for _ in range(3)] == ids[2:]


def test_seqio_task_registered_by_an_imported_module():
  src = sources.get_source("seqio:r1jax_test_user_task", None, "train", "plain",
                           fields={"question": "q", "answer": "a"},
                           imports=("user_seqio_tasks",))
  assert [(src[i]["question"], src[i]["answer"]) for i in range(len(src))] == [
      ("What is 2+3?", "5"), ("What is 7-4?", "3"), ("What is 1+1?", "2")]
  assert src[0]["id"] == "r1jax_test_user_task/train/0"
  with pytest.raises(ValueError, match="cannot import 'no_such_module_x'"):
    sources.get_source("seqio:x", None, "train", "plain", imports=("no_such_module_x",))


def test_tfds_dataset(tmp_path):
  knobs = dict(min_ops=1, max_ops=1, digits=1, operators="+-")
  builder = synthetic.tfds_builder("arith", tmp_path, "easy", 0, num_train=8, num_test=4, **knobs)
  builder.download_and_prepare()
  name = f"{builder.name}/{builder.builder_config.name}"
  src = sources.get_source(f"tfds:{name}", tmp_path, "test", "plain",
                           fields={"question": "question", "answer": "answer", "id": "id",
                                   "completion": "completion"})
  ref = sources.get_source("arith", None, "test", "plain", difficulty="easy", **knobs)
  by_id = {ref[i]["id"]: ref[i] for i in range(4)}
  assert len(src) == 4 and sorted(src[i]["id"] for i in range(4)) == sorted(by_id)
  for i in range(4):  # The TFDS records are the Python source's examples, mapped.
    want = by_id[src[i]["id"]]
    assert all(src[i][k] == want[k] for k in ("question", "answer", "completion", "prompt"))
