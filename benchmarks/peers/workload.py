"""The work both sides of the peer benchmark do, in plain Python (imported by both venvs).

Shapes: `anchor` is the issue's (and arith_tiny's `small` preset): d_model 128, 4 layers, 4
query / 2 KV heads of 32, SwiGLU MLP 384, vocabulary 128, untied embeddings, no biases, RMSNorm
eps 1e-6, RoPE theta 10k, float32. `wide` is d_model 256, 6 layers, 8 / 4 heads of 32, MLP 768.
`qwen0.5b-2l` is Qwen2.5-0.5B's width (d_model 896, 14 / 2 heads of 64, MLP 4864, q/k/v biases,
tied embeddings, the full 151,936-row vocabulary) with 2 layers.
Work per step: `prompts` prompts of PROMPT_LEN tokens x `group` completions, exactly
`new_tokens` new tokens each (end of sequence suppressed), temperature 1, no top-k / top-p;
GRPO with beta 0.04 (a reference pass), one optimizer step of one microbatch per RL step, AdamW
lr 1e-4. The 0.5B width takes 2 x 4 rows of 32 tokens (a step of 64 x 64 would take minutes on
a 2-core CPU).
"""
from __future__ import annotations

import json
import sys

_LLAMA = dict(qkv_bias=False, tie_embeddings=False, rope_theta=10000.0, prompts=8, group=8,
              new_tokens=64)
SHAPES = {
    "anchor": dict(d_model=128, num_layers=4, num_heads=4, num_kv_heads=2, head_dim=32,
                   mlp_dim=384, vocab_size=128, **_LLAMA),
    "wide": dict(d_model=256, num_layers=6, num_heads=8, num_kv_heads=4, head_dim=32,
                 mlp_dim=768, vocab_size=128, **_LLAMA),
    "qwen0.5b-2l": dict(d_model=896, num_layers=2, num_heads=14, num_kv_heads=2, head_dim=64,
                        mlp_dim=4864, vocab_size=151936, qkv_bias=True, tie_embeddings=True,
                        rope_theta=1_000_000.0, prompts=2, group=4, new_tokens=32),
}
PROMPT_LEN = 16
BETA, LR, SEED = 0.04, 1e-4, 0


def prompt_texts(count: int, seed: int = SEED) -> list[str]:
  """`count` arithmetic prompts of exactly PROMPT_LEN characters (one token each)."""
  out, i = [], seed
  while len(out) < count:
    a, b, c = i % 10, (i * 7 + 3) % 10, (i * 3 + 1) % 10
    text = f"Q: {a}+{b}-{c}=? A:"
    out.append(text.ljust(PROMPT_LEN)[:PROMPT_LEN])
    i += 1
  return out


def rows(shape: str) -> int:
  return SHAPES[shape]["prompts"] * SHAPES[shape]["group"]


def new_tokens(shape: str) -> int:
  """Completion tokens one step samples."""
  return rows(shape) * SHAPES[shape]["new_tokens"]


def reward(text: str) -> float:
  """A rule reward on the completion text: 1 if it holds a digit (cheap, like both graders)."""
  return float(any(ch.isdigit() for ch in text))


# The parent/child protocol: a child prints one JSON object per line on stdout (a line that does
# not start with '{' is log noise and is ignored), and waits for a line on stdin before each
# timed unit of work.
def emit(**record) -> None:
  sys.stdout.write(json.dumps(record) + "\n")
  sys.stdout.flush()


def wait_for_go() -> bool:
  """Blocks until the parent asks for the next unit of work; False when it says stop."""
  line = sys.stdin.readline()
  return line.strip() == "go"
