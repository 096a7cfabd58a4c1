"""seqio: the tokenizer as a Vocabulary, benchmark and TFDS-backed synthetic tasks, mixtures,
and the pipelines reading a seqio task."""
import collections

import numpy as np
import pytest

from r1jax import templates
from r1jax.data import RLPromptPipeline, SFTPipeline, first_examples, get_source, sources
from r1jax.file_tokenizers import HFTokenizer
from r1jax.tokenizers import CharTokenizer, char_tokenizer_for_math

# seqio and r1jax.data.tasks (TensorFlow: ~7 CPU-s to import) are imported by the autouse
# fixture below, not at collection: every xdist worker collects every test module, and only
# the one that runs this file needs them.
seqio = tasks = None


@pytest.fixture(scope="module", autouse=True)
def _import_seqio():
  """Skips the module without seqio; otherwise binds the module globals `seqio` and `tasks`."""
  global seqio, tasks
  seqio = pytest.importorskip("seqio")
  from r1jax.data import tasks  # pylint: disable=g-import-not-at-top


@pytest.fixture(scope="module")
def text_tokenizer(shared_data_dir):
  """Characters of the AIME/AMC prompts and answers (r1_zero template included)."""
  chars = set(templates.render("r1_zero", "")) | set("0123456789")
  for name in ("aime24", "amc23"):
    for ex in sources.read_benchmark(name, shared_data_dir, "test"):
      chars |= set(ex["question"]) | set(ex["answer"])
  return CharTokenizer("".join(sorted(chars)))


@pytest.fixture(scope="module")
def hf_tokenizer(shared_data_dir):
  """A small Qwen-like byte-level BPE trained on GSM8K; pad '<|endoftext|>' is id 2, not 0."""
  tokenizers = pytest.importorskip("tokenizers")
  lines = [ex["question"] for ex in sources.read_benchmark("gsm8k", shared_data_dir, "train")]
  tok = tokenizers.Tokenizer(tokenizers.models.BPE())
  tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = tokenizers.decoders.ByteLevel()
  trainer = tokenizers.trainers.BpeTrainer(
      vocab_size=600, special_tokens=["<|im_start|>", "<|im_end|>", "<|endoftext|>"],
      show_progress=False, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
  tok.train_from_iterator(lines[:2000], trainer)
  return HFTokenizer(tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")


@pytest.fixture(scope="module")
def benchmark_tasks(shared_data_dir, text_tokenizer):
  return {name: tasks.register_benchmark_task(name, shared_data_dir, "r1_zero", text_tokenizer)
          for name in ("aime24", "amc23")}


def test_vocabulary_adapter():
  tok = char_tokenizer_for_math()
  vocab = tasks.vocabulary(tok)
  assert isinstance(vocab, seqio.Vocabulary)
  assert (vocab.vocab_size, vocab.eos_id, vocab.pad_id) == (tok.vocab_size, tok.eos_id, 0)
  assert vocab == tasks.vocabulary(tok) and vocab != tasks.vocabulary(char_tokenizer_for_math())
  text = "<think>12+30=42\n</think><answer>42</answer>"
  ids = vocab.encode(text)
  assert ids == tok.encode(text) and vocab.decode(ids + [tok.eos_id, 5]) == text
  assert vocab.encode_tf(text).numpy().tolist() == ids
  batch = np.array([ids + [tok.eos_id, 7], ids + [0, 0]], np.int32)
  assert [t.decode() for t in vocab.decode_tf(batch).numpy()] == [text, text]


def test_benchmark_task_matches_python_source(benchmark_tasks, shared_data_dir, text_tokenizer):
  for name, task in benchmark_tasks.items():
    python = get_source(name, shared_data_dir, "test", "r1_zero")
    through_seqio = tasks.seqio_source(task, "test")
    assert len(through_seqio) == len(python) and first_examples(through_seqio) == first_examples(
        python)
    ds = task.get_dataset(sequence_length=None, split="test", shuffle=False)
    ex = next(ds.as_numpy_iterator())
    assert ex["inputs"].tolist() == text_tokenizer.encode(python[0]["prompt"])
    assert ex["targets"].tolist() == text_tokenizer.encode(python[0]["answer"]) + [
        text_tokenizer.eos_id]


@pytest.mark.parametrize("name,split,count", [("gsm8k", "train", 7473), ("gsm8k", "test", 1319),
                                              ("math500", "test", 500)])
def test_benchmark_task_counts(shared_data_dir, name, split, count):
  # The task's data source only: tokenizing thousands of long prompts is not the point here.
  task = tasks.register_benchmark_task(name, shared_data_dir, "qwen_chat",
                                       char_tokenizer_for_math())
  assert task.name == f"r1jax_{name}_qwen_chat"
  assert int(task.source.get_dataset(split=split, shuffle=False).cardinality()) == count


def test_mixture_samples_at_rates(shared_data_dir, text_tokenizer):
  for name in ("aime24", "amc23"):  # Short 'plain' prompts keep tokenizing cheap.
    tasks.register_benchmark_task(name, shared_data_dir, "plain", text_tokenizer)
  mixture = tasks.register_mixture("r1jax_test_mix", [("r1jax_aime24_plain", 1),
                                                      ("r1jax_amc23_plain", 3)])
  ds = mixture.get_dataset(sequence_length={"inputs": 4096, "targets": 32}, split="test",
                           shuffle=False, seed=0, passthrough_features=["task"])
  counts = collections.Counter(ex["task"].decode() for ex in ds.take(200).as_numpy_iterator())
  # 200 draws at p=0.75: sd ~6.1; 4 sd tolerance.
  assert abs(counts["amc23"] - 150) < 25 and counts["aime24"] + counts["amc23"] == 200


def test_synthetic_task_over_tfds(tmp_path):
  tok = char_tokenizer_for_math()
  task = tasks.register_synthetic_task("arith", "plain", tok, tmp_path, difficulty="easy",
                                       seed=1, num_train=24, num_test=8)
  assert task.name == "r1jax_arith_easy_plain"
  for split, n in (("train", 24), ("test", 8)):
    through_seqio = tasks.seqio_source(task, split)
    python = get_source("arith", None, split, "plain", difficulty="easy", seed=1, num_examples=n)
    assert first_examples(through_seqio) == first_examples(python)
  ex = next(task.get_dataset(sequence_length=None, split="test", shuffle=False)
            .as_numpy_iterator())
  assert ex["targets"].tolist() == tok.encode(python[0]["completion"]) + [tok.eos_id]

  # Both pipelines read a seqio task exactly as they read the plain-Python source.
  from_task = SFTPipeline(tasks.seqio_source(task, "train"), 4, tok, 64, seed=3, pack=True)
  from_python = SFTPipeline(get_source("arith", None, "train", "plain", difficulty="easy", seed=1,
                                       num_examples=24), 4, tok, 64, seed=3, pack=True)
  for _ in range(3):
    a, b = from_task.next(), from_python.next()
    np.testing.assert_array_equal(a.tokens_BxT, b.tokens_BxT)
    np.testing.assert_array_equal(a.loss_mask_BxT, b.loss_mask_BxT)
  rl = RLPromptPipeline(through_seqio, 4, tok, 16, seed=0)
  assert {ex["task"] for ex in rl.next().examples} == {"arith"}


def test_real_tokenizer_feeds_the_same_task(shared_data_dir, hf_tokenizer):
  tok = hf_tokenizer
  assert tok.pad_id == 2 and tasks.vocabulary(tok).pad_id == 2
  task = tasks.register_benchmark_task("gsm8k", shared_data_dir, "qwen_chat", tok,
                                       name="r1jax_gsm8k_qwen_chat_bpe")
  python = get_source("gsm8k", shared_data_dir, "test", "qwen_chat")
  ds = task.get_dataset(sequence_length=None, split="test", shuffle=False)
  for i, ex in enumerate(ds.take(20).as_numpy_iterator()):
    assert ex["inputs"].tolist() == tok.encode(python[i]["prompt"])
    assert ex["targets"].tolist() == tok.encode(python[i]["answer"]) + [tok.eos_id]
  through_seqio = tasks.seqio_source(task, "test")
  assert first_examples(through_seqio) == first_examples(python)
  batch = RLPromptPipeline(through_seqio, 4, tok, 256, seed=0).next()
  for row, ex in enumerate(batch.examples):
    ids = tok.encode(ex["prompt"])
    assert batch.prompt_tokens_BxP[row].tolist() == [2] * (256 - len(ids)) + ids
