"""Prefill and decode tokens/s of the rollout sampler, with the memory-bandwidth roofline.

  .venv/bin/python benchmarks/sampler_bench.py                      # tiny model, CPU
  .venv/bin/python benchmarks/sampler_bench.py --attention_impl xla   # prefill kernel
  .venv/bin/python benchmarks/sampler_bench.py --preset qwen2.5-0.5b --dtype bfloat16 \\
      --batch_sizes 1,16,64 --gen_lens 256,1024 --prompt_len 128        # on a GPU

Random weights (throughput does not depend on their values). Decode runs the whole jitted
`Sampler` with no EOS so every row generates exactly G tokens; decode time is the sampler's
time minus the prefill time. Each decode step must read every weight once and every cache slot
of every row (the model attends over all S = P - 1 + G slots, valid or not), so the roofline
step time is (weight bytes + KV-cache bytes) / measured bandwidth, where the bandwidth is that
of a large on-device copy (read + write). The fraction is roofline time / measured step time.
`--attention_impl` picks the prefill's kernel (decode steps always use the dense one, the only
kernel that reads the cache; see r1jax/models/attention.py).
Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from r1jax.models import attention, presets
from r1jax.sampling import sampler as smp
from r1jax.models import params as params_lib


def _time(fn, repeats: int) -> float:
  """Median wall time of fn() over `repeats` runs after one warm-up (compile) run."""
  jax.block_until_ready(fn())
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def copy_bandwidth(num_bytes: int, repeats: int) -> float:
  """Bytes/s of an on-device elementwise copy (each byte read once and written once)."""
  x = jnp.ones((num_bytes // 4,), jnp.float32)
  copy = jax.jit(lambda a: a + 1.0)
  return 2 * x.nbytes / _time(lambda: copy(x), repeats)


def bench_case(mc, params, batch: int, prompt_len: int, gen_len: int, repeats: int) -> dict:
  rng = np.random.default_rng(0)
  toks = jnp.asarray(rng.integers(3, mc.vocab_size, size=(batch, prompt_len)), jnp.int32)
  mask = jnp.ones((batch, prompt_len), bool)
  keys = jax.random.split(jax.random.key(0), batch)
  cache_len = prompt_len - 1 + gen_len
  prefill = jax.jit(smp.prefill, static_argnums=(1, 4))
  t_prefill = _time(lambda: prefill(params, mc, toks, mask, cache_len), repeats)
  cfg = smp.SamplerConfig(max_new_tokens=gen_len, eos_id=-1, temperature=1.0)
  sample_fn = smp.make_sample_fn(mc, cfg)
  t_total = _time(lambda: sample_fn(params, toks, mask, keys), repeats)
  t_decode = max(t_total - t_prefill, 1e-9)

  itemsize = jnp.dtype(mc.dtype).itemsize
  weight_bytes = sum(x.nbytes for x in jax.tree.leaves(params))
  kv_bytes = 2 * mc.num_layers * batch * cache_len * mc.num_kv_heads * mc.head_dim * itemsize
  return dict(batch=batch, prompt_len=prompt_len, gen_len=gen_len,
              prefill_tok_s=batch * (prompt_len - 1) / t_prefill,
              decode_tok_s=batch * gen_len / t_decode, step_ms=1e3 * t_decode / gen_len,
              bytes_per_step=weight_bytes + kv_bytes, weight_bytes=weight_bytes,
              kv_bytes=kv_bytes)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--preset", default="tiny", help="model preset (random weights)")
  parser.add_argument("--dtype", default="float32", help="param and compute dtype")
  parser.add_argument("--batch_sizes", default="1,8,32")
  parser.add_argument("--gen_lens", default="32,128")
  parser.add_argument("--prompt_len", type=int, default=32)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--attention_impl", default="auto", help="auto, dense, xla or cudnn")
  parser.add_argument("--bandwidth_mib", type=int, default=0,
                      help="size of the bandwidth probe (default: 256 on CPU, 2048 otherwise)")
  args = parser.parse_args()

  mc = presets.get(args.preset, param_dtype=args.dtype, dtype=args.dtype,
                   attention_impl=args.attention_impl)
  params = params_lib.init_params(mc, jax.random.key(0))
  device = jax.devices()[0]
  probe_mib = args.bandwidth_mib or (256 if device.platform == "cpu" else 2048)
  bandwidth = copy_bandwidth(probe_mib << 20, args.repeats)
  print(f"device: {device.device_kind} ({device.platform}, {jax.device_count()} devices); "
        f"preset {args.preset}, {args.dtype}, {mc.num_params / 1e6:.2f}M params, prefill "
        f"attention {attention.resolve_impl(mc.attention_impl, mc.dtype, mc.head_dim)}; "
        f"measured copy bandwidth {bandwidth / 1e9:.1f} GB/s\n")
  print("| batch | prompt | gen | prefill tok/s | decode tok/s | step ms | weights MB | "
        "KV MB/step | roofline ms | roofline fraction |")
  print("|---|---|---|---|---|---|---|---|---|---|")
  for batch in (int(b) for b in args.batch_sizes.split(",")):
    for gen_len in (int(g) for g in args.gen_lens.split(",")):
      r = bench_case(mc, params, batch, args.prompt_len, gen_len, args.repeats)
      roof_ms = 1e3 * r["bytes_per_step"] / bandwidth
      print(f"| {batch} | {args.prompt_len} | {gen_len} | {r['prefill_tok_s']:,.0f} | "
            f"{r['decode_tok_s']:,.0f} | {r['step_ms']:.3f} | {r['weight_bytes'] / 1e6:.1f} | "
            f"{r['kv_bytes'] / 1e6:.1f} | {roof_ms:.3f} | {roof_ms / r['step_ms']:.1%} |",
            flush=True)


if __name__ == "__main__":
  main()
