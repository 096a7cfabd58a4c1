"""seqio tasks and mixtures over the r1jax data, and any r1jax Tokenizer as a seqio.Vocabulary.

seqio and TensorFlow are imported inside these functions only, so the pipelines and the rest
of r1jax run without them.

Tasks (registered by `register_benchmark_task` / `register_synthetic_task`, default names
'r1jax_{source}_{template}' and 'r1jax_{task}_{difficulty}_{template}'):
  source      benchmarks: the validated JSONL examples (sources.read_benchmark);
              synthetic: the TFDS builder's split (synthetic.tfds_builder)
  preprocess  render_prompt (the template, via templates.render) -> inputs/targets ->
              tokenize -> eos on targets
  features    'inputs': prompt ids; 'targets': gold answer ids (benchmarks) or reference
              completion ids (synthetic); every text field of the example is kept.
`seqio_source(task, split)` reads a task back into an `ExampleList`, which the RL and SFT
pipelines take like any other source.
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from r1jax import templates
from r1jax.data import sources, synthetic
from r1jax.tokenizers import Tokenizer


@functools.cache
def _vocabulary_class():
  import seqio
  import tensorflow as tf

  class TokenizerVocabulary(seqio.Vocabulary):
    """An r1jax Tokenizer behind seqio's interface (TF ops run it through tf.py_function).

    pad_id is the tokenizer's own; seqio's feature converters assume 0, the r1jax pipelines
    do not.
    """

    def __init__(self, tokenizer: Tokenizer):
      self.tokenizer = tokenizer
      super().__init__(extra_ids=0)

    @property
    def pad_id(self) -> int:
      return self.tokenizer.pad_id

    @property
    def eos_id(self) -> int:
      return self.tokenizer.eos_id

    @property
    def bos_id(self):
      return self.tokenizer.bos_id

    @property
    def unk_id(self):
      return None  # r1jax tokenizers raise on unknown text rather than map it to an id.

    @property
    def _base_vocab_size(self) -> int:
      return self.tokenizer.vocab_size

    def _encode(self, s: str) -> list[int]:
      return self.tokenizer.encode(s)

    def _decode(self, ids) -> str:
      return self.tokenizer.decode([int(i) for i in ids if int(i) != self.pad_id])

    def _encode_tf(self, s):
      def encode(text):
        return np.asarray(self._encode(text.numpy().decode("utf-8")), np.int32)
      ids = tf.py_function(encode, [s], tf.int32)
      ids.set_shape([None])
      return ids

    def _decode_tf(self, ids):
      def decode(batch):
        flat = batch.numpy().reshape(-1, batch.shape[-1])
        texts = [self._decode(row).encode("utf-8") for row in flat]
        return np.asarray(texts, object).reshape(batch.shape[:-1])
      text = tf.py_function(decode, [ids], tf.string)
      text.set_shape(ids.shape[:-1])
      return text

    def __eq__(self, other):
      return isinstance(other, TokenizerVocabulary) and other.tokenizer is self.tokenizer

    def __hash__(self):
      return id(self.tokenizer)

  return TokenizerVocabulary


def vocabulary(tokenizer: Tokenizer):
  """`tokenizer` as a seqio.Vocabulary (equal to another one iff same tokenizer object)."""
  return _vocabulary_class()(tokenizer)


def render_prompt(dataset, template: str):
  """seqio preprocessor: 'prompt' = templates.render(template, 'question')."""
  import tensorflow as tf

  def render(question):
    return templates.render(template, question.numpy().decode("utf-8"))

  def add_prompt(ex):
    prompt = tf.py_function(render, [ex["question"]], tf.string)
    prompt.set_shape([])
    return {**ex, "prompt": prompt}
  return dataset.map(add_prompt, num_parallel_calls=tf.data.AUTOTUNE)


def to_features(dataset, target_key: str):
  """seqio preprocessor: 'inputs' <- 'prompt', 'targets' <- `target_key` (both still text)."""
  return dataset.map(lambda ex: {**ex, "inputs": ex["prompt"], "targets": ex[target_key]})


def _output_features(tokenizer: Tokenizer):
  import seqio
  vocab = vocabulary(tokenizer)
  return {"inputs": seqio.Feature(vocab, add_eos=False),
          "targets": seqio.Feature(vocab, add_eos=True)}


def _register(name: str, source, template: str, target_key: str, tokenizer: Tokenizer):
  import seqio
  templates.render(template, "")  # Unknown template names fail here, not inside tf.data.
  if name in seqio.TaskRegistry.names():
    seqio.TaskRegistry.remove(name)  # Re-registering (e.g. a new data_dir) replaces the task.
  return seqio.TaskRegistry.add(
      name, source=source,
      preprocessors=[functools.partial(render_prompt, template=template),
                     functools.partial(to_features, target_key=target_key),
                     functools.partial(seqio.preprocessors.tokenize, copy_pretokenized=False),
                     seqio.preprocessors.append_eos_after_trim],
      output_features=_output_features(tokenizer))


def _benchmark_dataset(name: str, data_dir: str, split: str, shuffle_files: bool, seed=None):
  import tensorflow as tf
  del shuffle_files, seed  # One file per split: nothing to shuffle at the file level.
  examples = sources.read_benchmark(name, data_dir, split)
  columns = {k: [ex[k] for ex in examples] for k in examples[0]}
  return tf.data.Dataset.from_tensor_slices(columns)


def register_benchmark_task(source: str, data_dir, template: str, tokenizer: Tokenizer,
                            name: str | None = None):
  """A seqio task over gsm8k / math500 / aime24 / amc23 read from `data_dir`."""
  import seqio
  if source not in sources.BENCHMARKS:
    raise ValueError(f"unknown benchmark {source!r}; choose one of {sorted(sources.BENCHMARKS)}")
  data_source = seqio.FunctionDataSource(
      functools.partial(_benchmark_dataset, source, str(data_dir)),
      splits=tuple(sources.BENCHMARK_FILES[source]))
  return _register(name or f"r1jax_{source}_{template}", data_source, template, "answer",
                   tokenizer)


def register_synthetic_task(task: str, template: str, tokenizer: Tokenizer, tfds_data_dir,
                            difficulty: str = "medium", seed: int = 0,
                            num_train: int = 100_000, num_test: int = 1_000,
                            name: str | None = None, **knobs):
  """A seqio task over a synthetic TFDS dataset (prepared here on first use)."""
  import seqio
  builder = synthetic.tfds_builder(task, tfds_data_dir, difficulty, seed, num_train, num_test,
                                   **knobs)
  builder.download_and_prepare()

  def dataset_fn(split, shuffle_files, seed=None):
    del seed  # TFDS shuffles files from its own read config.
    return builder.as_dataset(split=split, shuffle_files=shuffle_files)
  data_source = seqio.FunctionDataSource(
      dataset_fn, splits=synthetic.SPLITS,
      num_input_examples={"train": num_train, "test": num_test})
  return _register(name or f"r1jax_{task}_{difficulty}_{template}", data_source, template,
                   "completion", tokenizer)


def register_mixture(name: str, tasks_and_rates: Sequence[tuple[str, float]]):
  """A seqio mixture of registered tasks sampled at the given rates."""
  import seqio
  if name in seqio.MixtureRegistry.names():
    seqio.MixtureRegistry.remove(name)
  return seqio.MixtureRegistry.add(name, [(t, float(r)) for t, r in tasks_and_rates])


def _to_python(value):
  if isinstance(value, bytes):
    return value.decode("utf-8")
  if isinstance(value, np.ndarray):
    return [_to_python(v) for v in value.tolist()]
  if isinstance(value, np.generic):
    return value.item()
  return value


def seqio_source(task, split: str) -> sources.ExampleList:
  """A registered seqio task (or its name) read in order into an indexable source."""
  import seqio
  task = seqio.get_mixture_or_task(task) if isinstance(task, str) else task
  if not isinstance(task, seqio.Task):
    raise TypeError(f"seqio_source: {task.name!r} is not a seqio.Task; mix pipeline sources "
                    f"with sources.Mixture instead")
  dataset = task.get_dataset(sequence_length=None, split=split, shuffle=False)
  examples = [{k: _to_python(v) for k, v in ex.items() if k not in ("inputs", "targets")}
              for ex in dataset.as_numpy_iterator()]
  return sources.ExampleList(f"{task.name}/{split}", examples)
