"""FLOP and byte counts of the decoder, and the hardware peaks they are compared with.

Notation: L layers, D d_model, N query heads, K kv heads, H head_dim, F mlp width, V vocab;
a step processes B sequences of T tokens. A matmul [m, k] x [k, n] costs 2mkn FLOPs (a
multiply and an add per term).

Forward pass, per token (all matmuls of models/transformer.py):
  q and o projections    2 * 2 * D * N * H      per layer
  k and v projections    2 * 2 * D * K * H      per layer
  SwiGLU MLP             3 * 2 * D * F          per layer (gate, up, down)
  output logits          2 * D * V              once (tied or not; the input embedding is a
                                                gather: 0 FLOPs)
  i.e. 2 * W FLOPs per token, W = L * (2 D H (N + K) + 3 D F) + D V the matmul weights.
Attention, per layer and sequence: the scores q.k and the weighted sum p.v each cost
2 * N * H per (query, key) pair, so 4 * N * H * pairs, where
  pairs = T (T + 1) / 2   causal: only the keys a query may see (model FLOPs, used for MFU),
  pairs = T * T           what a dense masked softmax computes (hardware FLOPs of the 'dense'
                          and 'xla' kernels; cuDNN's causal flash kernel skips the masked
                          tiles, so it does close to the causal count).
  forward(B, T) = B * (2 * W * T + 4 * L * N * H * pairs(T))
Training: each matmul's backward computes the gradient of its input and of its weight, each
as costly as the forward product, so a train step is 3 * forward. Rematerialisation re-runs
part of the forward; that is hardware work, not model work, and is not counted (the PaLM
convention for MFU). Norms, RoPE, softmax, SiLU, biases, the loss and the optimizer are not
counted either: O(T * D) or O(params) terms, a few percent at the tiny test widths
(tests/benchmarks_flops_test.py compares with XLA's own count) and less as D grows.

Decoding one token for R rows against a cache of S slots (the model attends to every slot,
valid or not) costs 2 * W * R + 4 * L * N * H * S * R FLOPs and must read every weight once
plus the whole cache, 2 * L * R * S * K * H * itemsize bytes.

A prompt pass whose logits are dropped (the sampler's prefill) is forward minus 2 * D * V
per token.

Peaks: dense bf16 tensor-core/MXU FLOP/s and HBM bandwidth from the vendors' data sheets,
looked up by device kind; elsewhere (CPU, float32, unknown chips) the benchmarks take the best
of a few runs of a square matmul and of a matrix-vector product (a streaming read, as decode
reads its weights), and say so.
"""
from __future__ import annotations

import datetime
import os
import shlex
import sys
import time

import jax
import jax.numpy as jnp

from r1jax.models.transformer import ModelConfig

# First matching substring of jax Device.device_kind wins, so variants precede families.
# (dense bf16 TFLOP/s, HBM GB/s) per device.
DEVICE_PEAKS: tuple[tuple[str, float, float], ...] = (
    ("H100 PCIe", 756.0, 2000.0),
    ("H100 NVL", 835.0, 3900.0),
    ("H100", 989.4, 3350.0),  # SXM
    ("H200", 989.4, 4800.0),
    ("TPU v4", 275.0, 1228.0),
    ("TPU v5 lite", 197.0, 819.0),  # v5e
    ("TPU v5e", 197.0, 819.0),
    ("TPU v5", 459.0, 2765.0),  # v5p reports itself as 'TPU v5'
)


def matmul_weights(config: ModelConfig) -> int:
  """W: weights that enter a matmul once per token (embedding lookup excluded, logits in)."""
  c = config
  per_layer = 2 * c.d_model * c.head_dim * (c.num_heads + c.num_kv_heads)
  per_layer += 3 * c.d_model * c.mlp_dim
  return c.num_layers * per_layer + c.d_model * c.vocab_size


def attention_pairs(seq_len: int, causal: bool = True) -> int:
  """(query, key) pairs of one sequence: T(T+1)/2 causal, T^2 for a dense masked softmax."""
  return seq_len * (seq_len + 1) // 2 if causal else seq_len * seq_len


def forward_flops(config: ModelConfig, batch: int, seq_len: int, causal: bool = True) -> float:
  """Forward FLOPs of `batch` sequences of `seq_len` tokens (see the module docstring)."""
  c = config
  dense = 2.0 * matmul_weights(c) * seq_len
  attn = 4.0 * c.num_layers * c.num_heads * c.head_dim * attention_pairs(seq_len, causal)
  return batch * (dense + attn)


def prefill_flops(config: ModelConfig, batch: int, prompt_len: int) -> float:
  """A prompt pass whose logits are never used (the sampler's prefill: XLA drops them)."""
  logits = 2.0 * config.d_model * config.vocab_size * prompt_len
  return forward_flops(config, batch, prompt_len) - batch * logits


def train_flops(config: ModelConfig, batch: int, seq_len: int, causal: bool = True) -> float:
  """Forward + backward model FLOPs of one step (3 x forward; remat not counted)."""
  return 3.0 * forward_flops(config, batch, seq_len, causal)


def decode_step_flops(config: ModelConfig, rows: int, cache_len: int) -> float:
  """FLOPs of one decode step: R rows, one token each, attending to `cache_len` slots."""
  c = config
  attn = 4.0 * c.num_layers * c.num_heads * c.head_dim * cache_len
  return rows * (2.0 * matmul_weights(c) + attn)


def kv_cache_bytes(config: ModelConfig, rows: int, cache_len: int) -> int:
  """Bytes of a KV cache of `cache_len` slots for `rows` rows (keys and values)."""
  c = config
  return 2 * c.num_layers * rows * cache_len * c.num_kv_heads * c.head_dim * jnp.dtype(
      c.dtype).itemsize


def decode_step_bytes(config: ModelConfig, rows: int, cache_len: int, weight_bytes: int) -> int:
  """Bytes one decode step must read: every weight once and the whole cache."""
  return weight_bytes + kv_cache_bytes(config, rows, cache_len)


def device_peaks(device_kind: str) -> tuple[float, float] | None:
  """(bf16 FLOP/s, bytes/s) of a known accelerator, else None."""
  for name, tflops, gbps in DEVICE_PEAKS:
    if name.lower() in device_kind.lower():
      return tflops * 1e12, gbps * 1e9
  return None


def _best_time(fn, *args, repeats: int) -> float:
  """Fastest of `repeats` runs after a compile run: a peak is the best the device attains."""
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return min(times)


def measured_matmul_flops(dtype: str, n: int, repeats: int = 5) -> float:
  """FLOP/s of an n x n x n matmul in `dtype` on the default device."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32).astype(dtype)
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32).astype(dtype)
  return 2.0 * n ** 3 / _best_time(jax.jit(jnp.matmul), a, b, repeats=repeats)


def measured_read_bandwidth(num_bytes: int, repeats: int = 5) -> float:
  """Bytes/s of streaming a float32 matrix through a matrix-vector product.

  That is how a decode step reads its weights. (An elementwise copy is a poor probe on CPU:
  XLA runs it on one thread, at a fraction of what multi-threaded matmuls read.)
  """
  rows = 4096
  m = jnp.ones((rows, num_bytes // 4 // rows), jnp.float32)
  v = jnp.ones((m.shape[1],), jnp.float32)
  return m.nbytes / _best_time(jax.jit(jnp.matmul), m, v, repeats=repeats)


def peak_flops(dtype: str, peak_tflops: float = 0.0, repeats: int = 5) -> tuple[float, str]:
  """(FLOP/s per device, where it came from): the flag, the bf16 data sheet, else measured.

  The table holds bf16 tensor-core rates, which float32 compute cannot reach, so float32 (and
  any CPU or unknown chip) gets a measured matmul in the compute dtype instead.
  """
  device = jax.devices()[0]
  table = device_peaks(device.device_kind) if device.platform != "cpu" else None
  if peak_tflops > 0:
    return peak_tflops * 1e12, "--peak_tflops"
  if table is not None and jnp.dtype(dtype) == jnp.bfloat16:
    return table[0], f"data sheet, {device.device_kind} dense bf16"
  n = 2048 if device.platform == "cpu" else 8192
  return measured_matmul_flops(dtype, n, repeats), f"best measured {n}^3 {dtype} matmul"


def peak_bandwidth(bandwidth_gbps: float = 0.0, repeats: int = 5) -> tuple[float, str]:
  """(bytes/s per device, where it came from): the flag, the data sheet, else measured."""
  device = jax.devices()[0]
  table = device_peaks(device.device_kind) if device.platform != "cpu" else None
  if bandwidth_gbps > 0:
    return bandwidth_gbps * 1e9, "--bandwidth_gbps"
  if table is not None:
    return table[1], f"data sheet, {device.device_kind} HBM"
  mib = 256 if device.platform == "cpu" else 2048
  return measured_read_bandwidth(mib << 20, repeats), f"best measured {mib} MiB matvec read"


def run_header() -> str:
  """Machine, date, JAX version and the command line, for the top of a results table."""
  device = jax.devices()[0]
  cmd = " ".join(shlex.quote(a) for a in [".venv/bin/python"] + sys.argv)
  # The load average shows whether other work shared the machine during the run.
  return (f"device: {device.device_kind} ({device.platform}) x {jax.device_count()}, "
          f"{os.cpu_count()} host cores (load average {os.getloadavg()[0]:.1f}); "
          f"jax {jax.__version__}; "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}\ncommand: {cmd}")
