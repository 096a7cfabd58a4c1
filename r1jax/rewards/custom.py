"""User reward functions named by import path: 'my_pkg.rewards:score'.

The reward-function API (README, "Your own reward"):

  def score(completion: str, example: dict, **params) -> float | RewardOutput

`completion` is the decoded completion (cut after the first stop string), `example` the data
pipeline's dict for its prompt (the source's fields: 'question', 'answer', any mapped extras).
Declare a `num_tokens` parameter to receive the completion's length in tokens. Return a finite
float (or `registry.RewardOutput(score, steps)` for dense rewards). Model output is hostile:
a reward must not eval or exec it; a call that raises or runs past reward_timeout_s scores 0
and is counted as a failure (metric reward_failures/<path>), and a step on which a reward
fails for every completion stops the run, naming the reward and its error.

Config: `config.rewards.custom = {"my_pkg.rewards:score": 1.0}` (path -> weight). The path is
resolved with importlib in whichever process grades, so the same string works in-process
(reward_workers=0) and in the reward pool's workers; the module must be importable there (an
installed package, or on PYTHONPATH).
"""
from __future__ import annotations

import functools
import importlib
import re
from typing import Callable

_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def is_path(name: str) -> bool:
  """Whether a reward name is an import path ('module.sub:function') rather than a built-in."""
  return ":" in name


@functools.lru_cache(maxsize=None)
def resolve(path: str) -> Callable:
  """The callable at 'module.sub:attr.attr'; ValueError naming the path on any failure."""
  if not _PATH.match(path):
    raise ValueError(f"custom reward {path!r}: expected 'package.module:function'")
  module_name, attr = path.split(":")
  try:
    obj = importlib.import_module(module_name)
  except Exception as e:  # pylint: disable=broad-except  (ImportError or the module's own)
    raise ValueError(f"custom reward {path!r}: cannot import {module_name!r}: "
                     f"{type(e).__name__}: {e}") from e
  for part in attr.split("."):
    if not hasattr(obj, part):
      raise ValueError(f"custom reward {path!r}: {module_name!r} has no attribute {attr!r}")
    obj = getattr(obj, part)
  if not callable(obj):
    raise ValueError(f"custom reward {path!r}: {attr!r} is not callable")
  return obj
