"""What the data of a run was: its data config and its files (names, sizes, content hashes).

Every checkpoint step stores the fingerprint of the data it was trained on; a resumed run
compares it with the data it finds. A resume on changed data continues a different experiment
from the saved data positions, so it is reported, file by file (`checkpoint.on_data_change`:
'warn' continues, 'refuse' stops with DataChangedError).

Files: everything under config.data.data_dir, plus config.sft.train_file where the config has
one. Hashes are SHA-256 of the whole file up to 64 MiB; bigger files are hashed on their first
and last MiB plus their size, which catches replaced and regenerated files without reading
gigabytes at every start.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Any, Callable

from r1jax.train import exit_status

_WHOLE_FILE_BYTES = 64 << 20
_EDGE_BYTES = 1 << 20
POLICIES = ("warn", "refuse")
_DATA_FIELDS = ("source", "template", "knobs", "train_split", "eval_split", "eval_source")


class DataChangedError(exit_status.FatalError):
  """The data differs from the data the checkpoint was trained on (on_data_change='refuse')."""


def file_hash(path: pathlib.Path, size: int) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    if size <= _WHOLE_FILE_BYTES:
      for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
      return h.hexdigest()
    h.update(f.read(_EDGE_BYTES))
    f.seek(size - _EDGE_BYTES)
    h.update(f.read(_EDGE_BYTES))
  return "edges:" + h.hexdigest()


def _files(config) -> list[tuple[str, pathlib.Path]]:
  """(name in the fingerprint, path) of every data file the config reads."""
  out = []
  data_dir = config.data.get("data_dir", "")
  if data_dir and pathlib.Path(data_dir).is_dir():
    root = pathlib.Path(data_dir)
    for dirpath, dirnames, filenames in os.walk(root):
      dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
      for name in sorted(filenames):
        if not name.startswith("."):
          path = pathlib.Path(dirpath) / name
          out.append((f"data_dir/{path.relative_to(root)}", path))
  sft = config.get("sft")
  train_file = sft.get("train_file", "") if sft is not None else ""
  if train_file and pathlib.Path(train_file).is_file():
    out.append(("sft.train_file", pathlib.Path(train_file)))
  return out


def _plain(value: Any) -> Any:
  """ConfigDicts and tuples as JSON values (what a checkpoint's `extra` stores)."""
  if hasattr(value, "to_dict"):
    value = value.to_dict()
  if isinstance(value, dict):
    return {str(k): _plain(v) for k, v in sorted(value.items())}
  if isinstance(value, (list, tuple)):
    return [_plain(v) for v in value]
  return value


def compute(config) -> dict:
  """The fingerprint: {'config': data fields, 'files': {name: {'size', 'sha256'}}}."""
  files = {}
  for name, path in _files(config):
    size = path.stat().st_size
    files[name] = {"size": size, "sha256": file_hash(path, size)}
  cfg = {f: _plain(config.data.get(f)) for f in _DATA_FIELDS if f in config.data}
  return {"config": cfg, "files": files}


def differences(saved: dict, current: dict) -> list[str]:
  """What changed from `saved` to `current`, one short phrase per field or file."""
  out = []
  for field in sorted(set(saved.get("config", {})) | set(current.get("config", {}))):
    a, b = saved.get("config", {}).get(field), current.get("config", {}).get(field)
    if a != b:
      out.append(f"config.data.{field} {a!r} -> {b!r}")
  sf, cf = saved.get("files", {}), current.get("files", {})
  for name in sorted(set(sf) | set(cf)):
    if name not in cf:
      out.append(f"{name} removed")
    elif name not in sf:
      out.append(f"{name} added")
    elif sf[name] != cf[name]:
      out.append(f"{name} changed (size {sf[name]['size']} -> {cf[name]['size']})")
  return out


def check(saved: dict | None, current: dict, policy: str, where: str,
          log: Callable[[str], Any] = print) -> None:
  """Compares the fingerprint saved in the checkpoint at `where` with the current data."""
  if policy not in POLICIES:
    raise ValueError(f"config.checkpoint.on_data_change must be one of {POLICIES}, got "
                     f"{policy!r}")
  if saved is None:
    log(f"warning: {where} records no data fingerprint (written by an older r1jax); the "
        "data cannot be checked")
    return
  changes = differences(saved, current)
  if not changes:
    return
  shown = "; ".join(changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5 else "")
  msg = f"the data changed since the checkpoint {where} was written: {shown}"
  if policy == "refuse":
    raise DataChangedError(msg + " (checkpoint.on_data_change='refuse'; set it to 'warn' to "
                           "resume anyway, or use a new workdir)")
  log(f"warning: {msg}; resuming anyway (checkpoint.on_data_change='warn')")
