"""Shared by tests (not a test module): a Qwen2-style byte-level BPE folder trained in seconds.

ChatML specials ('<|endoftext|>' eos and pad, '<|im_start|>', '<|im_end|>') are added tokens;
the R1 tags '<think>', '</think>', '<answer>', '</answer>' are NOT: they are ordinary text that
BPE spells with several tokens, merged with their neighbours ('}</', ' </', '.</'), as Qwen2.5's
base tokenizer does. tokenizer_config.json carries a ChatML chat_template like Qwen's.
"""
import json
import pathlib

import tokenizers
from tokenizers import decoders, models, pre_tokenizers, trainers

from r1jax.data import sources

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
TAGS = ("<think>", "</think>", "<answer>", "</answer>")
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
KNOBS = dict(difficulty="easy", min_ops=1, max_ops=2, digits=1, operators="+-")


def corpus(n: int = 600) -> list[str]:
  """Arithmetic traces with the answer tag after '}', a space and a full stop."""
  src = sources.get_source("arith", None, "train", "plain", **KNOBS)
  lines = []
  for i in range(n):
    e = src[i]
    a = e["answer"]
    lines += [e["prompt"] + e["completion"],
              f"<think>{e['solution']}</think> <answer>\\boxed{{{a}}}</answer>",
              f"<think>so it is {a}.</think><answer>{a} </answer>",
              f"The answer is {a}.</answer> then more text."]
  return lines


def make_folder(path, vocab_size: int = 400) -> pathlib.Path:
  """Writes tokenizer.json + tokenizer_config.json into `path`; returns it."""
  path = pathlib.Path(path)
  path.mkdir(parents=True, exist_ok=True)
  tok = tokenizers.Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS),
                                show_progress=False,
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
  tok.train_from_iterator(corpus(), trainer)
  tok.save(str(path / "tokenizer.json"))
  (path / "tokenizer_config.json").write_text(json.dumps({
      "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
      "chat_template": CHAT_TEMPLATE}, indent=2))
  return path


def load(path):
  from r1jax.file_tokenizers import load_tokenizer  # pylint: disable=g-import-not-at-top
  return load_tokenizer(path)
