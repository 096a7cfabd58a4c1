"""Sharded datasets: round trip, resume, refusal of partial or foreign data, tamper check."""
import json

import pytest

from r1jax.recipe import shards

KEY = {"what": "test", "n": 3}
ROWS = [[{"id": "a", "x": 1.5}], [], [{"id": "b", "t": "é\n"}, {"id": "c"}]]


def _build(directory, key=KEY, stop_after=None):
  w = shards.ShardedWriter(directory, key, len(ROWS), {"checkpoint": "ck"})
  for i, rows in enumerate(ROWS):
    if stop_after is not None and i == stop_after:
      return w
    if not w.done(i):
      w.write_shard(i, rows, {"kept": len(rows)})
  w.finalize({"kept": sum(len(r) for r in ROWS)})
  return w


def test_round_trip_and_info(tmp_path):
  _build(tmp_path)
  rows, info = shards.load(tmp_path)
  assert rows == [r for rs in ROWS for r in rs]
  assert info["rows"] == 3 and info["summary"] == {"kept": 3}
  assert info["version"] == shards.FORMAT_VERSION and info["provenance"] == {"checkpoint": "ck"}
  assert info["fingerprint"] == shards.fingerprint(KEY)


def test_partial_dataset_is_refused_then_resumed_identically(tmp_path):
  full, part = tmp_path / "full", tmp_path / "part"
  _build(full)
  _build(part, stop_after=2)
  # Leftovers of a kill during a write: a temporary file and a shard the manifest never named.
  (part / shards.SHARD_DIR / ".00002.jsonl.tmp").write_text("garbage")
  (part / shards.SHARD_DIR / "00002.jsonl").write_text('{"id": "half"')
  assert not shards.is_complete(part)
  with pytest.raises(shards.IncompleteDatasetError, match="no COMPLETE"):
    shards.load(part)
  w = shards.ShardedWriter(part, KEY, len(ROWS), {"checkpoint": "ck"})
  assert [w.done(i) for i in range(3)] == [True, True, False]
  with pytest.raises(shards.IncompleteDatasetError, match=r"shards \[2\]"):
    w.finalize({})
  _build(part)
  for name in (shards.DATA_FILE, shards.INFO_FILE):
    assert (part / name).read_bytes() == (full / name).read_bytes()


def test_other_inputs_in_the_same_directory_are_refused(tmp_path):
  _build(tmp_path, stop_after=1)
  with pytest.raises(ValueError, match="built from other inputs"):
    shards.ShardedWriter(tmp_path, {**KEY, "n": 4}, len(ROWS), {})
  with pytest.raises(ValueError, match="manifest has 3 shards"):
    shards.ShardedWriter(tmp_path, KEY, 5, {})


def test_tampered_data_and_unknown_version_fail(tmp_path):
  _build(tmp_path)
  data = tmp_path / shards.DATA_FILE
  data.write_text(data.read_text().replace('"a"', '"z"'))
  with pytest.raises(ValueError, match="sha256 does not match"):
    shards.load(tmp_path)
  info = json.loads((tmp_path / shards.INFO_FILE).read_text())
  info["version"] = 99
  (tmp_path / shards.INFO_FILE).write_text(json.dumps(info))
  with pytest.raises(ValueError, match="version 99"):
    shards.load_info(tmp_path)


def test_rows_are_canonical():
  assert shards.rows_text([{"b": 1, "a": "é"}]) == '{"a": "é", "b": 1}\n'
  with pytest.raises(ValueError):
    shards.rows_text([{"a": float("nan")}])
