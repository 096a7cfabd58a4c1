"""r1jax against its peers on the same work, interleaved: TRL's GRPO step and HF `generate`.

  make peers                                    # once: the peers' own environment
  .venv/bin/python benchmarks/peers/run.py      # every shape, 3 rounds of 5 steps per side

For each shape (benchmarks/peers/workload.py) and each pairing (r1jax's GRPO step vs TRL's
GRPOTrainer step; r1jax's sampler vs HF generate), both sides start as child processes (each
in its own environment), build and compile, and report their first step apart. Then the parent
alternates them step by step (A B B A ...), so a change in the machine's load hits both alike,
and prints each round's medians and the ratio r1jax / peer: time for the step (lower is
better), tokens per second for rollouts (higher is better).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import workload  # noqa: E402  pylint: disable=g-import-not-at-top


class Child:
  """One side, paced over stdin/stdout; its stderr goes to a log shown if it fails."""

  def __init__(self, name: str, python: str, script: str, mode: str, shape: str, steps: int):
    self.name = name
    self.log = tempfile.TemporaryFile(mode="w+")
    cmd = [python, str(HERE / script), "--mode", mode, "--shape", shape]
    if script == "trl_side.py":
      cmd += ["--steps", str(steps)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=self.log, text=True, cwd=ROOT, env=env)

  def read(self) -> dict:
    for line in self.proc.stdout:
      if line.startswith("{"):
        return json.loads(line)
    self.log.seek(0)
    tail = self.log.read()[-3000:]
    raise RuntimeError(f"{self.name} exited ({self.proc.wait()}) before reporting:\n{tail}")

  def step(self) -> dict:
    self.proc.stdin.write("go\n")
    self.proc.stdin.flush()
    return self.read()

  def close(self):
    if self.proc.poll() is None:
      try:
        self.proc.stdin.write("stop\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=60)
      except (BrokenPipeError, subprocess.TimeoutExpired):
        self.proc.kill()


def compare(shape: str, mode: str, peers_python: str, rounds: int, steps: int) -> list[dict]:
  ours = Child("r1jax", sys.executable, "r1jax_side.py", mode, shape, rounds * steps)
  peer = Child("TRL" if mode == "grpo" else "HF generate", peers_python, "trl_side.py", mode,
               shape, rounds * steps)
  try:
    first = {"r1jax": ours.read(), "peer": peer.read()}  # Built and compiled, one step each.
    out = []
    for r in range(rounds):
      times = {"r1jax": [], "peer": []}
      for i in range(steps):
        pair = ((ours, "r1jax"), (peer, "peer"))
        for child, key in (pair if i % 2 == 0 else pair[::-1]):
          rec = child.step()
          times[key].append(rec["seconds"])
          tokens = rec["tokens"]
      out.append({"shape": shape, "mode": mode, "round": r + 1, "tokens": tokens,
                  "r1jax_s": statistics.median(times["r1jax"]),
                  "peer_s": statistics.median(times["peer"]),
                  "r1jax_first_s": first["r1jax"]["seconds"],
                  "peer_first_s": first["peer"]["seconds"]})
    return out
  finally:
    ours.close()
    peer.close()


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--shapes", default="anchor,wide,qwen0.5b-2l")
  parser.add_argument("--modes", default="grpo,generate")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--steps", type=int, default=5, help="timed steps per side per round")
  parser.add_argument("--peers_python", default=str(ROOT / ".venv-peers/bin/python"))
  parser.add_argument("--json", default="", help="also write every round here")
  args = parser.parse_args()
  if not pathlib.Path(args.peers_python).exists():
    parser.error(f"no peers environment at {args.peers_python}: run `make peers` first")
  rows = []
  for shape in args.shapes.split(","):
    for mode in args.modes.split(","):
      rows += compare(shape, mode, args.peers_python, args.rounds, args.steps)
  load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
  print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
        f"{load:.1f} at the end; prompt {workload.PROMPT_LEN} tokens, beta {workload.BETA}\n")
  print("| shape | rows x new tokens | work | round | r1jax s | peer s | r1jax / peer time | r1jax tok/s | "
        "peer tok/s | speed-up | first step s (r1jax / peer) |")
  print("|---|---|---|---|---|---|---|---|---|---|---|")
  for r in rows:
    work = "GRPO step vs TRL" if r["mode"] == "grpo" else "rollout vs HF generate"
    sh = workload.SHAPES[r["shape"]]
    print(f"| {r['shape']} | {workload.rows(r['shape'])} x {sh['new_tokens']} | {work} | {r['round']} | {r['r1jax_s']:.3f} | {r['peer_s']:.3f} | "
          f"{r['r1jax_s'] / r['peer_s']:.2f}x | {r['tokens'] / r['r1jax_s']:,.0f} | "
          f"{r['tokens'] / r['peer_s']:,.0f} | {r['peer_s'] / r['r1jax_s']:.2f}x | "
          f"{r['r1jax_first_s']:.1f} / {r['peer_first_s']:.1f} |")
  if args.json:
    pathlib.Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
  main()
