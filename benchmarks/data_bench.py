"""Examples per second of the RL prompt and SFT pipelines (host CPU, no TensorFlow).

  .venv/bin/python benchmarks/data_bench.py --data_dir ../shared/data

Prints a Markdown table. Each case reads batches for about --seconds after one warm-up batch.
GSM8K uses a character vocabulary over the file's own characters (the long R1-Zero prompt
makes it the tokenizer-heavy case).
"""
from __future__ import annotations

import argparse
import pathlib
import time

from r1jax.data import RLPromptPipeline, SFTPipeline, get_source
from r1jax.tokenizers import CharTokenizer, char_tokenizer_for_math


def _rate(pipe, seconds: float) -> float:
  pipe.next()  # Warm-up: first permutation, imports.
  start, examples = time.perf_counter(), 0
  while time.perf_counter() - start < seconds:
    batch = pipe.next()
    examples += len(batch.examples) if hasattr(batch, "examples") else int(
        batch.segment_ids_BxT.max(axis=1).sum())
  return examples / (time.perf_counter() - start)


def _gsm8k_tokenizer(source) -> CharTokenizer:
  chars = set()
  for i in range(len(source)):
    chars |= set(source[i]["prompt"])
  return CharTokenizer("".join(sorted(chars)))


def cases(data_dir: str | None, batch_size: int):
  math_tok = char_tokenizer_for_math()
  arith = get_source("arith", None, "train", "plain")
  countdown = get_source("countdown", None, "train", "plain")
  yield "RL", "arith medium, plain, char vocab", RLPromptPipeline(
      arith, batch_size, math_tok, 64, seed=0)
  yield "RL", "countdown medium, plain, char vocab", RLPromptPipeline(
      countdown, batch_size, math_tok, 64, seed=0)
  if data_dir:
    gsm8k = get_source("gsm8k", data_dir, "train", "r1_zero")
    yield "RL", "gsm8k train, r1_zero, char vocab", RLPromptPipeline(
        gsm8k, batch_size, _gsm8k_tokenizer(gsm8k), 1024, seed=0)
  yield "SFT", "arith medium, padded T=128", SFTPipeline(
      arith, batch_size, math_tok, 128, seed=0)
  yield "SFT", "arith medium, packed T=512", SFTPipeline(
      arith, batch_size, math_tok, 512, seed=0, pack=True)
  yield "SFT", "countdown medium, packed T=512", SFTPipeline(
      countdown, batch_size, math_tok, 512, seed=0, pack=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", default=None, help="benchmark JSONL root (adds GSM8K)")
  parser.add_argument("--batch_size", type=int, default=64)
  parser.add_argument("--seconds", type=float, default=3.0)
  args = parser.parse_args()
  data_dir = args.data_dir if args.data_dir and pathlib.Path(args.data_dir).is_dir() else None
  print("| pipeline | source | batch | examples/s |\n|---|---|---|---|")
  for kind, name, pipe in cases(data_dir, args.batch_size):
    print(f"| {kind} | {name} | {args.batch_size} | {_rate(pipe, args.seconds):,.0f} |",
          flush=True)


if __name__ == "__main__":
  main()
