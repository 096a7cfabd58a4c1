"""Versioned JSON Lines datasets built in shards, resumable, never mistaken for complete.

Layout of a dataset directory:
  manifest.json        what is being built (fingerprint, provenance) and the finished shards
  shards/NNNNN.jsonl   one shard per slice of the input, each written whole then renamed
  data.jsonl           the dataset: the shards concatenated in order
  dataset_info.json    format version, fingerprint, provenance, counts, sha256 of data.jsonl
  COMPLETE             written last; `load` refuses a directory without it

Every file is written to a temporary name and renamed (atomic on POSIX), and the manifest
names a shard only after the shard is on disk, so a run stopped at any instant leaves whole
shards that a rerun with the same fingerprint skips. A different fingerprint (other config or
checkpoint) in the same directory is refused rather than mixed in. Rows are serialised with
sorted keys, so equal content gives byte-identical files.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
from typing import Any, Iterable, Mapping, Sequence

FORMAT = "r1jax.dataset"
FORMAT_VERSION = 1
DATA_FILE = "data.jsonl"
INFO_FILE = "dataset_info.json"
MANIFEST_FILE = "manifest.json"
COMPLETE_FILE = "COMPLETE"
SHARD_DIR = "shards"


class IncompleteDatasetError(ValueError):
  """The directory holds no finished dataset (a partial run, or nothing)."""


def canonical_json(obj: Any) -> str:
  return json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=False)


def fingerprint(obj: Any) -> str:
  """sha256 of the canonical JSON of `obj` (what a dataset is built from)."""
  return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def write_atomic(path: pathlib.Path, text: str) -> None:
  tmp = path.with_name(f".{path.name}.tmp")
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def rows_text(rows: Iterable[Mapping]) -> str:
  return "".join(canonical_json(r) + "\n" for r in rows)


def _sha(text: str) -> str:
  return hashlib.sha256(text.encode()).hexdigest()


def is_complete(directory) -> bool:
  return (pathlib.Path(directory) / COMPLETE_FILE).is_file()


class ShardedWriter:
  """Builds the dataset of `directory` shard by shard; `finalize` publishes it.

  `key` is what the dataset is built from (config values, checkpoint, inputs): its fingerprint
  must match the one in an existing manifest. `provenance` is stored as is.
  """

  def __init__(self, directory, key: Mapping[str, Any], num_shards: int,
               provenance: Mapping[str, Any]):
    if num_shards < 1:
      raise ValueError(f"ShardedWriter: num_shards must be >= 1, got {num_shards}")
    self.directory = pathlib.Path(directory)
    self.fingerprint = fingerprint(key)
    self.num_shards = num_shards
    self.provenance = dict(provenance)
    self._manifest_path = self.directory / MANIFEST_FILE
    (self.directory / SHARD_DIR).mkdir(parents=True, exist_ok=True)
    if self._manifest_path.is_file():
      self._manifest = json.loads(self._manifest_path.read_text())
      if self._manifest.get("fingerprint") != self.fingerprint:
        raise ValueError(
            f"{self.directory}: holds a dataset built from other inputs (fingerprint "
            f"{self._manifest.get('fingerprint', '?')[:12]}, this run {self.fingerprint[:12]}); "
            f"use a new directory or delete it")
      if self._manifest.get("num_shards") != num_shards:
        raise ValueError(f"{self.directory}: manifest has {self._manifest.get('num_shards')} "
                         f"shards, this run {num_shards}")
      self.provenance = self._manifest["provenance"]  # As first written: identical output.
    else:
      self._manifest = {"format": FORMAT, "version": FORMAT_VERSION,
                        "fingerprint": self.fingerprint, "num_shards": num_shards,
                        "provenance": self.provenance, "shards": {}}
      write_atomic(self._manifest_path, json.dumps(self._manifest, indent=2, sort_keys=True))

  def _shard_path(self, index: int) -> pathlib.Path:
    return self.directory / SHARD_DIR / f"{index:05d}.jsonl"

  def done(self, index: int) -> bool:
    """Whether shard `index` is finished: named in the manifest and intact on disk."""
    entry = self._manifest["shards"].get(str(index))
    path = self._shard_path(index)
    return entry is not None and path.is_file() and _sha(path.read_text()) == entry["sha256"]

  def write_shard(self, index: int, rows: Sequence[Mapping], stats: Mapping[str, Any]):
    """Writes shard `index` (rows plus its statistics) and records it in the manifest."""
    if not 0 <= index < self.num_shards:
      raise ValueError(f"write_shard: index {index} outside [0, {self.num_shards})")
    text = rows_text(rows)
    write_atomic(self._shard_path(index), text)
    self._manifest["shards"][str(index)] = {"rows": len(rows), "sha256": _sha(text),
                                            "stats": dict(stats)}
    write_atomic(self._manifest_path, json.dumps(self._manifest, indent=2, sort_keys=True))

  def shard_stats(self) -> list[dict]:
    return [self._manifest["shards"][str(i)]["stats"] for i in range(self.num_shards)]

  def finalize(self, summary: Mapping[str, Any]) -> dict:
    """Concatenates the shards into data.jsonl, writes dataset_info.json, then COMPLETE."""
    missing = [i for i in range(self.num_shards) if not self.done(i)]
    if missing:
      raise IncompleteDatasetError(f"{self.directory}: shards {missing} are not finished")
    text = "".join(self._shard_path(i).read_text() for i in range(self.num_shards))
    write_atomic(self.directory / DATA_FILE, text)
    info = {"format": FORMAT, "version": FORMAT_VERSION, "fingerprint": self.fingerprint,
            "provenance": self.provenance, "rows": text.count("\n"), "sha256": _sha(text),
            "summary": dict(summary)}
    write_atomic(self.directory / INFO_FILE, json.dumps(info, indent=2, sort_keys=True))
    write_atomic(self.directory / COMPLETE_FILE, self.fingerprint + "\n")
    return info


def load_info(directory) -> dict:
  """dataset_info.json of a finished dataset; raises IncompleteDatasetError otherwise."""
  directory = pathlib.Path(directory)
  if not is_complete(directory):
    raise IncompleteDatasetError(
        f"{directory}: no {COMPLETE_FILE} marker, so no finished dataset (an interrupted run "
        f"is resumed by running the same command again)")
  info = json.loads((directory / INFO_FILE).read_text())
  if info.get("format") != FORMAT or info.get("version") != FORMAT_VERSION:
    raise ValueError(f"{directory / INFO_FILE}: format {info.get('format')!r} version "
                     f"{info.get('version')!r}; this code reads {FORMAT!r} {FORMAT_VERSION}")
  return info


def load(directory) -> tuple[list[dict], dict]:
  """(rows, info) of a finished dataset, its checksum verified."""
  directory = pathlib.Path(directory)
  info = load_info(directory)
  text = (directory / DATA_FILE).read_text(encoding="utf-8")
  if _sha(text) != info["sha256"]:
    raise ValueError(f"{directory / DATA_FILE}: sha256 does not match {INFO_FILE} (the file "
                     f"was changed after it was written)")
  rows = []
  for lineno, line in enumerate(text.splitlines(), start=1):
    try:
      rows.append(json.loads(line))
    except json.JSONDecodeError as e:
      raise ValueError(f"{directory / DATA_FILE}:{lineno}: invalid JSON: {e}") from e
  return rows, info
