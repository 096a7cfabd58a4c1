"""Builds the Hugging Face parity fixtures in tests/fixtures/hf_parity (needs torch+transformers).

  pip install -e '.[parity]'   # torch 2.13.0 (CPU wheel) and transformers 5.24.0 were used
  python scripts/make_parity_fixtures.py [--out tests/fixtures/hf_parity] [--no-check-export]

For each tiny model (a Qwen2 with qkv bias and tied embeddings; a Llama with untied embeddings,
Llama-3 RoPE scaling and a checkpoint split over several safetensors files with an index) it
writes <name>/ (config.json + safetensors, from transformers' own `save_pretrained`) and
<name>_reference.npz: fixed token ids `tokens_BxT`, float32 reference logits `logits_BxTxV`,
and greedy continuations `greedy_BxG` of `prompt_BxP` (with `min_margin`, the smallest gap
between the top two logits over all greedy steps: a near-tie would make the token-for-token
test depend on round-off, so the script refuses margins under 1e-3).

Weights come from transformers' initialiser (a wider std than the default 0.02 so logits are
O(1) and the 1e-4 tolerance is meaningful), then the q/k/v biases and norm scales, which that
initialiser sets to zeros and ones, are randomised so their name/layout mapping is tested too.

Unless --no-check-export, it then checks the other direction: r1jax loads each fixture,
writes it back with `save_checkpoint`, and transformers must load that folder and produce the
same logits (max abs error < 1e-4).
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

import numpy as np
import torch
import transformers

SEED = 0
BATCH, SEQ, PROMPT, NEW_TOKENS = 2, 32, 8, 16
MIN_MARGIN = 1e-3
TOLERANCE = 1e-4

_COMMON = dict(vocab_size=128, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, intermediate_size=128, max_position_embeddings=128,
               initializer_range=0.2, bos_token_id=1, eos_token_id=2)

MODELS = {
    "qwen2": dict(
        config=lambda: transformers.Qwen2Config(
            **_COMMON, rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=True),
        max_shard_size=None),
    # original_max_position_embeddings=64 puts head_dim 16's wavelengths in all three
    # regimes of Llama-3 scaling (kept, blended, divided by `factor`).
    "llama": dict(
        config=lambda: transformers.LlamaConfig(
            **_COMMON, head_dim=16, rms_norm_eps=1e-5, rope_theta=500000.0,
            tie_word_embeddings=False,
            rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                              high_freq_factor=4.0, original_max_position_embeddings=64)),
        max_shard_size="100KB"),
}


def build_model(name: str) -> torch.nn.Module:
  torch.manual_seed(SEED)
  config = MODELS[name]["config"]()
  model = transformers.AutoModelForCausalLM.from_config(
      config, attn_implementation="eager", dtype=torch.float32)
  gen = torch.Generator().manual_seed(SEED + 1)
  with torch.no_grad():
    for pname, p in model.named_parameters():
      if pname.endswith(("norm.weight", "_proj.bias")):
        p.copy_(p + 0.3 * torch.randn(p.shape, generator=gen))
  return model.eval()


def logits_of(model, tokens_BxT: np.ndarray) -> np.ndarray:
  with torch.no_grad():
    return model(torch.as_tensor(tokens_BxT, dtype=torch.long)).logits.float().numpy()


def greedy(model, prompt_BxP: np.ndarray, steps: int) -> tuple[np.ndarray, float]:
  """Full-recompute greedy decoding (no cache, so nothing but the forward pass is trusted)."""
  tokens, margin = prompt_BxP.copy(), np.inf
  for _ in range(steps):
    last_BxV = logits_of(model, tokens)[:, -1]
    top2 = np.sort(last_BxV, axis=-1)[:, -2:]
    margin = min(margin, float(np.min(top2[:, 1] - top2[:, 0])))
    tokens = np.concatenate([tokens, last_BxV.argmax(-1)[:, None]], axis=1)
  return tokens[:, prompt_BxP.shape[1]:], margin


def write_fixture(name: str, out: pathlib.Path) -> None:
  model = build_model(name)
  kwargs = {}
  if MODELS[name]["max_shard_size"]:
    kwargs["max_shard_size"] = MODELS[name]["max_shard_size"]
  model.save_pretrained(out / name, **kwargs)
  rng = np.random.default_rng(SEED)
  tokens = rng.integers(0, model.config.vocab_size, (BATCH, SEQ)).astype(np.int32)
  prompt = tokens[:, :PROMPT]
  continuation, margin = greedy(model, prompt, NEW_TOKENS)
  if margin < MIN_MARGIN:
    sys.exit(f"{name}: greedy top-2 margin {margin:.2e} < {MIN_MARGIN}; pick another SEED")
  np.savez(out / f"{name}_reference.npz", tokens_BxT=tokens,
           logits_BxTxV=logits_of(model, tokens).astype(np.float32), prompt_BxP=prompt,
           greedy_BxG=continuation.astype(np.int32), min_margin=np.float32(margin))
  files = sorted(p.name for p in (out / name).iterdir())
  print(f"{name}: {files}, greedy margin {margin:.3g}")


def check_export(name: str, out: pathlib.Path) -> None:
  """r1jax load -> save_checkpoint -> transformers load gives the reference logits."""
  from r1jax.models import hf  # JAX only here, so fixture writing does not need it.
  ref = np.load(out / f"{name}_reference.npz")
  config, params = hf.load_checkpoint(out / name)
  with tempfile.TemporaryDirectory() as tmp:
    hf.save_checkpoint(tmp, config, params)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        tmp, attn_implementation="eager", dtype=torch.float32).eval()
    err = float(np.max(np.abs(logits_of(model, ref["tokens_BxT"]) - ref["logits_BxTxV"])))
  if not err < TOLERANCE:
    sys.exit(f"{name}: transformers logits of the r1jax export differ by {err:.2e}")
  print(f"{name}: r1jax export loads in transformers, max abs logit error {err:.2e}")


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", type=pathlib.Path,
                      default=pathlib.Path(__file__).resolve().parents[1] / "tests" /
                      "fixtures" / "hf_parity")
  parser.add_argument("--no-check-export", action="store_true")
  args = parser.parse_args(argv)
  args.out.mkdir(parents=True, exist_ok=True)
  for name in MODELS:
    write_fixture(name, args.out)
  if not args.no_check_export:
    for name in MODELS:
      check_export(name, args.out)


if __name__ == "__main__":
  main()
