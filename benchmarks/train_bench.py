"""Training-step throughput and MFU of `sft_step` (forward, backward, AdamW) on random data.

  .venv/bin/python benchmarks/train_bench.py                                   # tiny, CPU
  .venv/bin/python benchmarks/train_bench.py --preset qwen2.5-0.5b --num_layers 2 \\
      --seq_len 128 --batch 1 --steps 3                                      # shrunk, CPU
  .venv/bin/python benchmarks/train_bench.py --preset tiny,small --attention_impl dense,xla
  .venv/bin/python benchmarks/train_bench.py --preset qwen2.5-0.5b,qwen2.5-1.5b,llama-3.2-1b \\
      --dtype bfloat16 --seq_len 2048 --batch 4 --remat dots_no_batch,full \\
      --attention_impl cudnn,xla                                           # one GPU
  .venv/bin/python benchmarks/train_bench.py --preset qwen2.5-1.5b --dtype bfloat16 \\
      --seq_len 2048 --batch 32 --mesh fsdp=8 --remat full                   # 8 GPUs

The step is the project's own `sft_trainer.make_sft_step`: one jit with the state donated and
sharded by the model's logical rules, the batch already on device and split over the data
axes, so a timed step has no host round-trip. Each case: compile (timed separately via
lower().compile()), `--warmup` steps, then the median of `--steps` steps, each ended by
block_until_ready on the new state. Random weights and tokens: speed does not depend on them.
Every row is one full-length sequence. With `--segments none` (default) the model gets no
segment ids and every fused kernel uses its plain causal form (cuDNN flash attention on a GPU);
`--segments ones` passes all-ones segment ids with single_segment=True, as the RL scorer and
unpacked SFT do (rows rolled to a plain causal mask); `--segments packed` passes them as
possibly packed: an explicit [T, T] mask, which cuDNN cannot take (the 'cudnn' kernel then
falls back to 'xla'; see r1jax/models/attention.py).

Columns: tokens/s = batch * seq_len / median step time; model TFLOP/s = flops.train_flops
(3 x forward, causal attention, remat not counted; formula in benchmarks/flops.py) / step time;
MFU = that per device / the peak FLOP/s per device (--peak_tflops, else the dense bf16 data
sheet figure of a known GPU/TPU for bf16 compute, else a measured matmul in the compute dtype:
the header says which). compiled MB = XLA's buffer plan for the step on one device
(arguments + outputs + temporaries - donated aliases); peak MB = the device's peak bytes in
use since the process started where the runtime reports it (GPU/TPU), else the process's max
RSS (CPU). Forced host devices (--xla_force_host_platform_device_count) share the host's
cores, so a CPU MFU means something only with one device. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import itertools
import resource
import statistics
import time

import jax
import numpy as np

import flops
from r1jax import sharding
from r1jax.models import attention, presets
from r1jax.train import sft_trainer
from r1jax.train.state import create_state, optimizer_from_config
from r1jax.models import params as params_lib


def parse_mesh(spec: str) -> dict[str, int]:
  """'fsdp=8' or 'data=2,fsdp=4' -> sizes of all mesh axes.

  Unnamed axes are 1, except 'data', which fills the remaining devices (-1) unless another
  axis already does.
  """
  axes = {}
  for part in filter(None, spec.split(",")):
    name, eq, size = part.partition("=")
    name = name.strip()
    if not eq or name not in sharding.MESH_AXES:
      raise ValueError(f"--mesh: expected axis=size pairs over {sharding.MESH_AXES} like "
                       f"'fsdp=8', got {part!r}")
    axes[name] = int(size)
  fill = 1 if -1 in axes.values() else -1
  return {a: axes.get(a, fill if a == "data" else 1) for a in sharding.MESH_AXES}


def peak_memory(device) -> tuple[float, str]:
  """(bytes, what they are): device peak in use, or the process max RSS where unavailable."""
  stats = device.memory_stats()
  if stats and "peak_bytes_in_use" in stats:
    return float(stats["peak_bytes_in_use"]), "device peak bytes in use"
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0, "process max RSS"


def random_batch(vocab_size: int, batch: int, seq_len: int, mesh, segments: str) -> dict:
  """Full-length sequences of random tokens, every target in the loss, on device.

  segments 'none' leaves segment_ids out (None: one unpadded sequence per row).
  """
  rng = np.random.default_rng(0)
  arrays = {"tokens": rng.integers(0, vocab_size, (batch, seq_len), dtype=np.int32),
            "loss_mask": np.ones((batch, seq_len), np.float32),
            "segment_ids": np.ones((batch, seq_len), np.int32),
            "positions": np.broadcast_to(np.arange(seq_len, dtype=np.int32),
                                         (batch, seq_len)).copy()}
  out = {k: jax.device_put(v, sharding.batch_sharding(mesh, v.ndim)) for k, v in arrays.items()}
  if segments == "none":
    out["segment_ids"] = None
  return out


def bench_case(preset: str, remat: str, seq_len: int, batch: int, attn: str, args) -> dict:
  overrides = dict(dtype=args.dtype, param_dtype=args.param_dtype, remat_policy=remat,
                   attention_impl=attn)
  if args.num_layers:
    overrides["num_layers"] = args.num_layers
  mc = presets.get(preset, **overrides)
  mesh = sharding.make_mesh(parse_mesh(args.mesh))
  rows = mesh.shape["data"] * mesh.shape["fsdp"]
  if batch % rows:
    raise ValueError(f"--batch {batch} cannot be split over mesh data*fsdp = {rows} devices")
  optimizer = optimizer_from_config({"lr": args.lr}, 1)
  state, state_shardings = create_state(
      lambda r: params_lib.init_params(mc, r, mesh), optimizer, seed=0, mesh=mesh,
      param_shardings=params_lib.param_shardings(mc, mesh))
  data = random_batch(mc.vocab_size, batch, seq_len, mesh, args.segments)
  step = sft_trainer.make_sft_step(mc, optimizer, mesh, state_shardings,
                                   single_segment=args.segments == "ones")

  start = time.perf_counter()
  with sharding.activation_sharding(mesh):
    compiled = step.lower(state, data, None).compile()
  compile_s = time.perf_counter() - start
  mem = compiled.memory_analysis()
  compiled_bytes = None
  if mem is not None:
    compiled_bytes = (mem.argument_size_in_bytes + mem.output_size_in_bytes
                      + mem.temp_size_in_bytes - mem.alias_size_in_bytes)

  for _ in range(args.warmup):
    state, metrics = compiled(state, data, None)
  jax.block_until_ready(state)
  times = []
  for _ in range(args.steps):
    start = time.perf_counter()
    state, metrics = compiled(state, data, None)
    jax.block_until_ready(state)
    times.append(time.perf_counter() - start)
  loss = float(metrics["sft/loss"])
  if not np.isfinite(loss):
    raise FloatingPointError(f"{preset}: loss {loss} after {args.warmup + args.steps} steps")
  peak_bytes, _ = peak_memory(jax.devices()[0])
  step_s = statistics.median(times)
  model_flops = flops.train_flops(mc, batch, seq_len)
  resolved = attention.resolve_impl(mc.attention_impl, mc.dtype, mc.head_dim)
  attn = attn if resolved == attn else f"{attn} ({resolved})"
  return dict(preset=preset, params_m=mc.num_params / 1e6, remat=remat, batch=batch, attn=attn,
              seq_len=seq_len, compile_s=compile_s, step_s=step_s,
              tokens_s=batch * seq_len / step_s, tflops_s=model_flops / step_s / 1e12,
              flops_per_device=model_flops / step_s / jax.device_count(),
              compiled_mb=None if compiled_bytes is None else compiled_bytes / 1e6,
              peak_mb=peak_bytes / 1e6, loss=loss)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--preset", default="tiny,small", help="model preset(s), comma-separated")
  parser.add_argument("--num_layers", type=int, default=0,
                      help="override the preset's depth (0 keeps it): big shapes on a CPU")
  parser.add_argument("--dtype", default="float32", help="compute dtype (float32, bfloat16)")
  parser.add_argument("--param_dtype", default="float32", help="parameter/optimizer dtype")
  parser.add_argument("--remat", default="none",
                      help="remat policy/policies: none, full, dots, dots_no_batch")
  parser.add_argument("--seq_len", default="256", help="sequence length(s), comma-separated")
  parser.add_argument("--batch", default="8", help="global batch size(s), comma-separated")
  parser.add_argument("--attention_impl", default="auto",
                      help="attention kernel(s): auto, dense, xla, cudnn (comma-separated)")
  parser.add_argument("--segments", default="none", choices=("none", "ones", "packed"),
                      help="segment ids given to the model (see the module docstring)")
  parser.add_argument("--mesh", default="data=-1",
                      help="mesh axes, e.g. fsdp=8 or data=2,fsdp=4 (data fills the rest)")
  parser.add_argument("--steps", type=int, default=5, help="timed steps (median reported)")
  parser.add_argument("--warmup", type=int, default=2, help="untimed steps after compiling")
  parser.add_argument("--lr", type=float, default=1e-5)
  parser.add_argument("--peak_tflops", type=float, default=0.0,
                      help="peak TFLOP/s per device for MFU (default: data sheet or measured)")
  args = parser.parse_args()
  if args.steps < 1:
    parser.error("--steps must be >= 1")

  peak, peak_src = flops.peak_flops(args.dtype, args.peak_tflops)
  _, mem_kind = peak_memory(jax.devices()[0])
  print(flops.run_header())
  print(f"compute {args.dtype}, params {args.param_dtype}, mesh {args.mesh}, segment ids "
        f"{args.segments}; MFU against {peak / 1e12:.4g} TFLOP/s per device ({peak_src}); "
        f"peak MB = {mem_kind}\n")
  print("| preset | params M | attention | remat | batch | seq | compile s | step ms | "
        "tokens/s | model TFLOP/s | MFU | compiled MB | peak MB |")
  print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
  cases = itertools.product(args.preset.split(","), args.attention_impl.split(","),
                            args.remat.split(","), [int(s) for s in args.seq_len.split(",")],
                            [int(b) for b in args.batch.split(",")])
  for preset, attn, remat, seq_len, batch in cases:
    r = bench_case(preset, remat, seq_len, batch, attn, args)
    compiled_mb = "n/a" if r["compiled_mb"] is None else f"{r['compiled_mb']:,.0f}"
    print(f"| {r['preset']} | {r['params_m']:.2f} | {r['attn']} | {r['remat']} | {r['batch']} | "
          f"{r['seq_len']} | {r['compile_s']:.1f} | {1e3 * r['step_s']:.2f} | "
          f"{r['tokens_s']:,.0f} | {r['tflops_s']:.4g} | {r['flops_per_device'] / peak:.1%} | "
          f"{compiled_mb} | {r['peak_mb']:,.0f} |", flush=True)


if __name__ == "__main__":
  main()
