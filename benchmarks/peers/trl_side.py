"""The PyTorch side of the peer benchmark: TRL's GRPOTrainer step, or HF `generate`.

Runs in the peers' own environment (BUILD.md: "Peer benchmarks"), never in r1jax's; driven by
benchmarks/peers/run.py over stdin/stdout (workload.emit / wait_for_go).

  .venv-peers/bin/python benchmarks/peers/trl_side.py --mode grpo --shape anchor --steps 10

The model is a random-init Llama (the r1jax model's layout: RMSNorm, RoPE, SwiGLU, GQA, no
biases, untied embeddings) saved to a temporary folder with a 128-token character tokenizer,
so TRL builds its reference model from the same files, as it does for a hub checkpoint.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import torch
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workload  # noqa: E402  pylint: disable=g-import-not-at-top


def char_tokenizer(size: int) -> transformers.PreTrainedTokenizerFast:
  """Printable ASCII one character a token, padded with filler tokens to the model's rows."""
  specials = ["<pad>", "<eos>", "<unk>"]
  chars = [chr(c) for c in range(32, 127)]
  vocab = specials + chars + [f"<x{i}>" for i in range(size - len(specials) - len(chars))]
  tok = Tokenizer(models.WordLevel({t: i for i, t in enumerate(vocab)}, unk_token="<unk>"))
  tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
  tok.decoder = decoders.Fuse()
  return transformers.PreTrainedTokenizerFast(
      tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>",
      padding_side="left")


def build_model(shape: str, folder: str):
  s = workload.SHAPES[shape]
  tok = char_tokenizer(s["vocab_size"])
  common = dict(
      vocab_size=s["vocab_size"], hidden_size=s["d_model"], intermediate_size=s["mlp_dim"],
      num_hidden_layers=s["num_layers"], num_attention_heads=s["num_heads"],
      num_key_value_heads=s["num_kv_heads"], rms_norm_eps=1e-6, rope_theta=s["rope_theta"],
      tie_word_embeddings=s["tie_embeddings"], max_position_embeddings=512,
      pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
      bos_token_id=tok.eos_token_id)
  torch.manual_seed(workload.SEED)
  if s["qkv_bias"]:  # Qwen2: biases on q/k/v (its head_dim is d_model / heads).
    assert s["head_dim"] * s["num_heads"] == s["d_model"]
    model = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**common))
  else:
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        head_dim=s["head_dim"], attention_bias=False, mlp_bias=False, **common))
  model.save_pretrained(folder)
  tok.save_pretrained(folder)
  return model, tok


def run_generate(args, folder):
  model, tok = build_model(args.shape, folder)
  model.eval()
  s = workload.SHAPES[args.shape]
  enc = tok(workload.prompt_texts(s["prompts"]), return_tensors="pt", padding=True)
  assert enc.input_ids.shape == (s["prompts"], workload.PROMPT_LEN), enc.input_ids.shape
  kw = dict(do_sample=True, num_return_sequences=s["group"], temperature=1.0, top_k=0,
            top_p=1.0, max_new_tokens=s["new_tokens"], min_new_tokens=s["new_tokens"],
            pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)

  def once():
    start = time.perf_counter()
    with torch.no_grad():
      out = model.generate(**enc, **kw)
    dt = time.perf_counter() - start
    new = out.shape[1] - workload.PROMPT_LEN
    return dt, out.shape[0] * new

  dt, n = once()
  workload.emit(kind="first", seconds=dt, tokens=n)
  while workload.wait_for_go():
    dt, n = once()
    workload.emit(kind="step", seconds=dt, tokens=n)


def run_grpo(args, folder):
  import datasets  # pylint: disable=g-import-not-at-top
  import trl  # pylint: disable=g-import-not-at-top
  _, tok = build_model(args.shape, folder)
  s = workload.SHAPES[args.shape]
  n_prompts = s["prompts"] * (args.steps + 2)
  data = datasets.Dataset.from_dict({"prompt": workload.prompt_texts(n_prompts)})

  def reward_fn(completions, **_):
    return [workload.reward(c) for c in completions]

  cfg = trl.GRPOConfig(
      output_dir=os.path.join(folder, "out"), per_device_train_batch_size=workload.rows(
          args.shape), num_generations=s["group"], gradient_accumulation_steps=1,
      steps_per_generation=1, num_iterations=1, max_completion_length=s["new_tokens"],
      generation_kwargs={"min_new_tokens": s["new_tokens"]}, temperature=1.0, top_k=0,
      top_p=1.0, beta=workload.BETA, learning_rate=workload.LR, max_steps=args.steps + 1,
      logging_steps=10 ** 6, report_to="none", save_strategy="no", use_cpu=True, bf16=False,
      fp16=False, seed=workload.SEED, disable_tqdm=True, dataloader_num_workers=0,
      shuffle_dataset=False, gradient_checkpointing=False)  # TRL turns it on by default;
  # off, its step is faster here (the activations are small), so the ratio is the harder one.

  class Pace(transformers.TrainerCallback):
    """Times each optimizer step and pauses between steps until the parent says go."""

    def __init__(self):
      self.start = None
      self.first = True

    def on_train_begin(self, *_, **__):
      self.start = time.perf_counter()

    def on_step_end(self, *_, **__):
      dt = time.perf_counter() - self.start
      workload.emit(kind="first" if self.first else "step", seconds=dt,
                    tokens=workload.new_tokens(args.shape))
      self.first = False
      if not workload.wait_for_go():
        raise SystemExit(0)
      self.start = time.perf_counter()

  trainer = trl.GRPOTrainer(model=folder, reward_funcs=reward_fn, args=cfg, train_dataset=data,
                            processing_class=tok, callbacks=[Pace()])
  trainer.train()


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--mode", choices=("grpo", "generate"), required=True)
  parser.add_argument("--shape", choices=sorted(workload.SHAPES), default="anchor")
  parser.add_argument("--steps", type=int, default=10, help="timed steps the parent may ask")
  args = parser.parse_args()
  torch.set_num_threads(os.cpu_count() or 1)
  with tempfile.TemporaryDirectory() as folder:
    (run_grpo if args.mode == "grpo" else run_generate)(args, folder)


if __name__ == "__main__":
  main()
