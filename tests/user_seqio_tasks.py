"""Registers a user's seqio task on import (not a test module): data.knobs.imports names it."""
import functools

import seqio

NAME = "r1jax_test_user_task"
ROWS = {"train": [("What is 2+3?", "5"), ("What is 7-4?", "3"), ("What is 1+1?", "2")],
        "test": [("What is 9-9?", "0")]}


def _dataset(split, shuffle_files, seed=None):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  del shuffle_files, seed
  q, a = zip(*ROWS[split])
  return tf.data.Dataset.from_tensor_slices({"q": list(q), "a": list(a)})


if NAME in seqio.TaskRegistry.names():
  seqio.TaskRegistry.remove(NAME)
seqio.TaskRegistry.add(NAME, source=seqio.FunctionDataSource(functools.partial(_dataset),
                                                             splits=tuple(ROWS)),
                       preprocessors=[], output_features={})
