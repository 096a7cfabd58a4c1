"""The work both sides of the peer benchmark do, in plain Python (imported by both venvs).

Shapes: `anchor` is the issue's (and arith_tiny's `small` preset): d_model 128, 4 layers, 4
query / 2 KV heads of 32, SwiGLU MLP 384, vocabulary 128, untied embeddings, no biases, RMSNorm
eps 1e-6, RoPE theta 10k, float32. `wide` is d_model 256, 6 layers, 8 / 4 heads of 32, MLP 768.
Both sides: 8 prompts of 16 tokens x 8 completions = 64 rows, exactly 64 new tokens each (end
of sequence suppressed), temperature 1, no top-k / top-p; GRPO with beta 0.04 (a reference
pass), one optimizer step of one microbatch per RL step, AdamW lr 1e-4.
"""
from __future__ import annotations

import json
import sys

SHAPES = {
    "anchor": dict(d_model=128, num_layers=4, num_heads=4, num_kv_heads=2, head_dim=32,
                   mlp_dim=384, vocab_size=128),
    "wide": dict(d_model=256, num_layers=6, num_heads=8, num_kv_heads=4, head_dim=32,
                 mlp_dim=768, vocab_size=128),
}
PROMPTS, GROUP, PROMPT_LEN, NEW_TOKENS = 8, 8, 16, 64
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
