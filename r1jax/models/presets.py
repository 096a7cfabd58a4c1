"""Named model shapes: tiny CPU models and real Qwen2.5 / Llama-3.2 families.

`get(name, **overrides)` returns a ModelConfig; overrides replace fields (e.g. vocab_size for a
char-level tokenizer, dtype='bfloat16'). Real shapes follow the published config.json files.
"""
from __future__ import annotations

import dataclasses

from r1jax.models.transformer import ModelConfig, RopeScaling

_LLAMA32_ROPE = RopeScaling(factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
                            original_max_position_embeddings=8192)

PRESETS: dict[str, ModelConfig] = {
    # Toy shapes for CPU (vocab fits the char-level math tokenizer; override for others).
    "tiny": ModelConfig(vocab_size=128, d_model=64, num_layers=2, num_heads=4, num_kv_heads=2,
                        head_dim=16, mlp_dim=192, max_seq_len=256),
    "tiny-mha": ModelConfig(vocab_size=128, d_model=64, num_layers=2, num_heads=4,
                            num_kv_heads=4, head_dim=16, mlp_dim=192, max_seq_len=256),
    "small": ModelConfig(vocab_size=128, d_model=128, num_layers=4, num_heads=4,
                         num_kv_heads=2, head_dim=32, mlp_dim=384, max_seq_len=512),
    # Qwen2.5 (qkv bias; tied embeddings up to 3B).
    "qwen2.5-0.5b": ModelConfig(vocab_size=151936, d_model=896, num_layers=24, num_heads=14,
                                num_kv_heads=2, head_dim=64, mlp_dim=4864, rms_norm_eps=1e-6,
                                rope_theta=1_000_000.0, qkv_bias=True, tie_embeddings=True,
                                max_seq_len=32768),
    "qwen2.5-1.5b": ModelConfig(vocab_size=151936, d_model=1536, num_layers=28, num_heads=12,
                                num_kv_heads=2, head_dim=128, mlp_dim=8960, rms_norm_eps=1e-6,
                                rope_theta=1_000_000.0, qkv_bias=True, tie_embeddings=True,
                                max_seq_len=32768),
    "qwen2.5-7b": ModelConfig(vocab_size=152064, d_model=3584, num_layers=28, num_heads=28,
                              num_kv_heads=4, head_dim=128, mlp_dim=18944, rms_norm_eps=1e-6,
                              rope_theta=1_000_000.0, qkv_bias=True, tie_embeddings=False,
                              max_seq_len=32768),
    # Qwen2.5-Math-1.5B: same trunk as 1.5B, rope_theta 10k, 4k context.
    "qwen2.5-math-1.5b": ModelConfig(vocab_size=151936, d_model=1536, num_layers=28,
                                     num_heads=12, num_kv_heads=2, head_dim=128, mlp_dim=8960,
                                     rms_norm_eps=1e-6, rope_theta=10_000.0, qkv_bias=True,
                                     tie_embeddings=True, max_seq_len=4096),
    # Llama-3.2 (tied embeddings, Llama-3 RoPE scaling).
    "llama-3.2-1b": ModelConfig(vocab_size=128256, d_model=2048, num_layers=16, num_heads=32,
                                num_kv_heads=8, head_dim=64, mlp_dim=8192, rms_norm_eps=1e-5,
                                rope_theta=500_000.0, rope_scaling=_LLAMA32_ROPE,
                                tie_embeddings=True, max_seq_len=131072),
    "llama-3.2-3b": ModelConfig(vocab_size=128256, d_model=3072, num_layers=28, num_heads=24,
                                num_kv_heads=8, head_dim=128, mlp_dim=8192, rms_norm_eps=1e-5,
                                rope_theta=500_000.0, rope_scaling=_LLAMA32_ROPE,
                                tie_embeddings=True, max_seq_len=131072),
}


def get(name: str, **overrides) -> ModelConfig:
  """The preset `name`, with `overrides` applied (validated again)."""
  if name not in PRESETS:
    raise ValueError(f"model.preset: unknown preset {name!r}; known presets: {sorted(PRESETS)}")
  unknown = set(overrides) - {f.name for f in dataclasses.fields(ModelConfig)}
  if unknown:
    raise ValueError(f"model overrides: unknown ModelConfig field(s) {sorted(unknown)}")
  return dataclasses.replace(PRESETS[name], **overrides)
