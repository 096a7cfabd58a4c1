"""Experiment files loaded by path: a config file's `get_config(arg=None)` and a sweep file's
`get_sweep(arg=None)`, as the mains' --config / --sweep flags name them ('file.py[:arg]').

One loader, so a config file that builds on another (`load_config(sibling, arg)`), a sweep's
base config and the curation CLI's task all read a file the same way as the runs do.
"""
from __future__ import annotations

import hashlib
import importlib.util
import pathlib
import types

REPO = pathlib.Path(__file__).resolve().parents[1]


def split(spec: str) -> tuple[str, str]:
  """'path/to/file.py:arg' -> ('path/to/file.py', 'arg'); no ':' gives arg ''."""
  path, _, arg = str(spec).partition(":")
  return path, arg


def resolve(path, flag: str) -> pathlib.Path:
  """The file as given, else relative to the repository root; fails naming `flag`."""
  file = pathlib.Path(path)
  if not file.is_file() and not file.is_absolute() and (REPO / file).is_file():
    file = REPO / file
  if not file.is_file():
    raise FileNotFoundError(f"{flag}: file {str(path)!r} not found")
  return file


def load_module(file: pathlib.Path, flag: str, function: str) -> types.ModuleType:
  """Imports the file as a fresh module (its own name per path) that defines `function`."""
  digest = hashlib.blake2b(str(file.resolve()).encode(), digest_size=4).hexdigest()
  module_spec = importlib.util.spec_from_file_location(f"r1jax_file_{file.stem}_{digest}", file)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not callable(getattr(module, function, None)):
    raise ValueError(f"{flag}: {file} defines no {function}(arg=None)")
  return module


def load_config(spec, arg: str | None = None, flag: str = "--config"):
  """get_config of a config file: `spec` is 'file.py[:arg]' (or a path and `arg`); with no arg
  get_config() is called bare, as the mains' --config flag does."""
  path, spec_arg = split(spec) if arg is None else (str(spec), arg)
  module = load_module(resolve(path, flag), flag, "get_config")
  return module.get_config(spec_arg) if spec_arg else module.get_config()
