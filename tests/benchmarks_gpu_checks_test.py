"""benchmarks/gpu_checks.py: its checks pass on a correct model and fail on a broken kernel.

They run on the CPU here at the tiny shape (no cuDNN: dense and xla only); on a GPU the same
code adds the cuDNN kernel at the 0.5B shape (results in BENCHMARKS.md).
"""
import argparse
import pathlib
import sys

import jax
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import gpu_checks  # noqa: E402  pylint: disable=g-import-not-at-top

ARGS = argparse.Namespace(preset="tiny", layers=1, batch=2, seq_len=32, sampler_layers=2,
                          prompt_len=8, new_tokens=6)


@pytest.mark.slow  # 15-30 s: 12 compiled value-and-grads; the next test runs the same path.
def test_attention_kernels_agree_in_every_mask_form():
  rows = gpu_checks.attention_check(ARGS)
  assert [(r["form"], r["impl"]) for r in rows] == [
      (f, i) for f in ("causal", "rolled", "packed") for i in ("dense", "xla")]
  for r in rows:
    assert r["ok"], r
    # bf16 against the float32 reference: rounding-sized, neither zero nor large.
    assert 1e-4 < r["logits"] < 5e-2 and 1e-4 < r["grad"] < 5e-2, r


def test_a_kernel_that_ignores_causality_fails(monkeypatch):
  real = jax.nn.dot_product_attention

  def acausal(*args, is_causal=False, **kwargs):
    del is_causal
    return real(*args, is_causal=False, **kwargs)

  monkeypatch.setattr(jax.nn, "dot_product_attention", acausal)
  args = argparse.Namespace(**vars(ARGS), forms=("causal",))
  dense, xla = gpu_checks.attention_check(args)
  assert dense["impl"] == "dense" and dense["ok"]  # The reference kernel does not call it.
  assert xla["impl"] == "xla" and not xla["ok"]
  assert xla["logits"] > 10 * dense["logits"]


def test_greedy_sampler_matches_the_uncached_forward():
  f32, bf16 = gpu_checks.sampler_check(ARGS)
  assert f32["dtype"] == "float32" and f32["ok"], f32
  assert f32["agree"] == 1.0 and f32["max_logprob_err"] <= 1e-3
  assert f32["tokens"] == 4 * ARGS.new_tokens
  assert bf16["dtype"] == "bfloat16" and bf16["ok"]  # Reported, not bounded.
