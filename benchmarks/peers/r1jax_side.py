"""The r1jax side of the peer benchmark: the trainer's own GRPO step, or its sampler.

Driven by benchmarks/peers/run.py over stdin/stdout (workload.emit / wait_for_go):

  .venv/bin/python benchmarks/peers/r1jax_side.py --mode grpo --shape anchor

A step is grpo_step_bench.Step's (the RL trainer's jitted phases from r1jax/train/rl_phases.py,
tested equal to the trainer's first step): sample, dispatch the log-prob passes, grade on the
host meanwhile, then advantages and the optimizer step, blocked until the new state is ready.
`generate` times the trainer's Sampler alone, tokens fetched to the host.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks/peers"))
import grpo_step_bench  # noqa: E402  pylint: disable=g-import-not-at-top
import workload  # noqa: E402  pylint: disable=g-import-not-at-top


def build_step(shape: str) -> grpo_step_bench.Step:
  s = workload.SHAPES[shape]
  args = argparse.Namespace(
      prompts=s["prompts"], group_size=s["group"], max_new_tokens=s["new_tokens"],
      max_prompt_len=workload.PROMPT_LEN, grad_accum=1, num_minibatches=1,
      kl_coef=workload.BETA, preset="small", dtype="float32", param_dtype="float32",
      attention_impl="auto", num_layers=s["num_layers"], mesh="data=-1")
  c = grpo_step_bench.load_config(args)
  for field in ("d_model", "num_heads", "num_kv_heads", "head_dim", "mlp_dim", "vocab_size",
                "qkv_bias", "tie_embeddings", "rope_theta"):
    setattr(c.model.overrides, field, s[field])
  c.optim.lr, c.optim.warmup_steps, c.seed = workload.LR, 0, workload.SEED
  c.rl.algorithm = "grpo"
  return grpo_step_bench.Step(c, score_rows=0, full_length=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--mode", choices=("grpo", "generate"), required=True)
  parser.add_argument("--shape", choices=sorted(workload.SHAPES), default="anchor")
  args = parser.parse_args()
  step = build_step(args.shape)
  tokens = workload.new_tokens(args.shape)

  def grpo():
    out, host = step.sample()
    pending = step.logprobs(out)  # Dispatched: the device scores while the host grades.
    graded = step.grade(host)
    step.update(out, graded, pending)  # Blocks until the new state is ready.
    return int(host["lengths"].sum())

  def generate():
    _, host = step.sample()
    return int(host["lengths"].sum())

  unit = grpo if args.mode == "grpo" else generate
  start = time.perf_counter()
  n = unit()
  workload.emit(kind="first", seconds=time.perf_counter() - start, tokens=n)
  if n != tokens:
    raise SystemExit(f"expected {tokens} new tokens, sampled {n}")
  while workload.wait_for_go():
    start = time.perf_counter()
    n = unit()
    workload.emit(kind="step", seconds=time.perf_counter() - start, tokens=n)


if __name__ == "__main__":
  main()
