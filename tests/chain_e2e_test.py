"""The R1 chain end to end on a byte-level BPE tokenizer trained here (R1 tags multi-token):
SFT warm start -> grpo_main (2 steps) -> rejection_sampling_main from <rl workdir>/model ->
sft_main of a smaller student on the kept rows -> eval_main of the student -> hf export of the
RL model, whose logits a float64 NumPy forward of the exported Hugging Face folder reproduces.
Every link is the real command in a subprocess."""
import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.numpy

import bpe_tokenizer
from r1jax.data import sources
from r1jax.models import locate
from r1jax.models.transformer import Transformer
from r1jax.recipe import shards

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = REPO / "experiments" / "configs"
ATOL = 1e-4  # float32 r1jax vs float64 NumPy on a 4-layer d128 model (logits std ~1).


def _run(args, cwd=REPO):
  # tests/ on the path: the RL config names a reward in tests/custom_reward_fns.py.
  path = os.pathsep.join([str(REPO / "tests")] + [p for p in [os.environ.get("PYTHONPATH")] if p])
  env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=path)
  proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                        cwd=cwd, timeout=900)
  log = proc.stdout + proc.stderr
  assert proc.returncode == 0, log[-4000:]
  return log


def _main(name, config, workdir, *flags):
  config = config if isinstance(config, pathlib.Path) else CONFIGS / config
  return _run([str(REPO / "experiments" / f"{name}.py"), f"--config={config}",
               f"--workdir={workdir}", *flags])


def _numpy_forward(folder, tokens_T):
  """Logits [T, V] of a Hugging Face Llama/Qwen2 folder in float64, from its config.json and
  safetensors alone (the architecture as transformers defines it)."""
  cfg = json.loads((pathlib.Path(folder) / "config.json").read_text())
  w = {}
  for f in pathlib.Path(folder).glob("*.safetensors"):
    w.update({k: v.astype(np.float64) for k, v in safetensors.numpy.load_file(str(f)).items()})
  H, K = cfg["num_attention_heads"], cfg["num_key_value_heads"]
  D = cfg.get("head_dim") or cfg["hidden_size"] // H
  eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
  T = len(tokens_T)

  def norm(x, g):
    return x / np.sqrt(np.mean(x * x, -1, keepdims=True) + eps) * g

  inv = 1.0 / theta ** (np.arange(0, D, 2) / D)
  ang = np.arange(T)[:, None] * inv[None]
  cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))

  def rope(x):  # [heads, T, D], rotate_half layout.
    half = np.concatenate([-x[..., D // 2:], x[..., :D // 2]], -1)
    return x * cos + half * sin

  def lin(x, name):
    y = x @ w[name + ".weight"].T
    return y + w[name + ".bias"] if name + ".bias" in w else y

  x = w["model.embed_tokens.weight"][tokens_T]
  for l in range(cfg["num_hidden_layers"]):
    p = f"model.layers.{l}."
    h = norm(x, w[p + "input_layernorm.weight"])
    q = lin(h, p + "self_attn.q_proj").reshape(T, H, D).transpose(1, 0, 2)
    k = lin(h, p + "self_attn.k_proj").reshape(T, K, D).transpose(1, 0, 2)
    v = lin(h, p + "self_attn.v_proj").reshape(T, K, D).transpose(1, 0, 2)
    q, k = rope(q), rope(k)
    k, v = np.repeat(k, H // K, 0), np.repeat(v, H // K, 0)
    s = q @ k.transpose(0, 2, 1) / np.sqrt(D) + np.triu(np.full((T, T), -np.inf), 1)
    a = np.exp(s - s.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    x = x + lin((a @ v).transpose(1, 0, 2).reshape(T, H * D), p + "self_attn.o_proj")
    h = norm(x, w[p + "post_attention_layernorm.weight"])
    g, u = lin(h, p + "mlp.gate_proj"), lin(h, p + "mlp.up_proj")
    x = x + lin(g / (1 + np.exp(-g)) * u, p + "mlp.down_proj")
  x = norm(x, w["model.norm.weight"])
  head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
  return x @ head.T


def _user_data(folder):
  """A user's task as JSONL: arithmetic whose reference completions run on past the answer
  tag ('</answer> then more text.'), so the warm-started policy does too."""
  folder.mkdir()
  src = sources.get_source("arith", None, "train", "plain", **bpe_tokenizer.KNOBS)
  rows = []
  for i in range(240):
    e = src[i]
    rows.append({"question": e["question"], "answer": e["answer"], "completion":
                 f"<think>{e['solution']}</think> <answer>\\boxed{{{e['answer']}}}</answer>"
                 " then more text."})
  for split, part in (("train", rows[:200]), ("test", rows[200:])):
    (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
  return folder


@pytest.mark.slow
def test_r1_chain_on_a_bpe_tokenizer(tmp_path):
  tok_dir = bpe_tokenizer.make_folder(tmp_path / "tokenizer")
  tok = [f"--config.tokenizer={tok_dir}"]
  data = _user_data(tmp_path / "data")
  rl = tmp_path / "rl"
  log = _main("grpo_main", pathlib.Path(f"{REPO / 'tests' / 'configs' / 'chain_rl.py'}:{data}"),
              rl, *tok,
              "--config.total_steps=2",
              "--config.prompts_per_step=8", "--config.sampler.group_size=4",
              "--config.sampler.max_new_tokens=32", "--config.data.max_prompt_len=16",
              "--config.warm_start.sft_steps=40", "--config.warm_start.batch_size=16",
              "--config.warm_start.max_len=64", "--config.warm_start.warmup_steps=5",
              "--config.eval.num_problems=8", "--config.eval.k=0", "--config.eval.batch_size=8",
              "--config.eval.every=1", "--config.checkpoint.every=1")
  assert "Held-out evaluation" in log
  train = [r for r in map(json.loads, (rl / "metrics.jsonl").read_text().splitlines())
           if "loss" in r]
  # Every graded completion ended at its first '</answer>', however BPE spelled it, though
  # the policy was taught to write on past it (its rollouts hit the stop string).
  assert [r["reward/custom_reward_fns:ends_at_stop"] for r in train] == [1.0, 1.0]
  assert sum(r["reward/custom_reward_fns:has_stop"] for r in train) > 0
  assert locate.resolve(rl).path == rl / "model" and (rl / "model_best").is_dir()
  assert (rl / "model" / "hf" / "tokenizer.json").is_file()

  rs = tmp_path / "rs"
  log = _main("rejection_sampling_main", "rs_arith_tiny.py", rs, *tok,
              f"--config.model.init_checkpoint={rl / 'model'}", "--config.rs.num_prompts=16",
              "--config.rs.prompts_per_batch=8", "--config.rs.shard_prompts=8",
              "--config.sampler.group_size=4", "--config.sampler.max_new_tokens=32",
              "--config.rs.filters.required=()", "--config.rs.filters.correct=False",
              "--config.rs.filters.drop_truncated=False")
  rows, info = shards.load(rs)
  assert info["rows"] == len(rows) > 0
  assert info["provenance"]["checkpoint"]["path"] == str(rl / "model")
  for r in rows:  # Cut at the stop string on text: nothing after it was kept.
    text = r["completion"]
    assert "</answer>" not in text or text.endswith("</answer>"), text

  student = tmp_path / "student"
  log = _main("sft_main", "sft_arith_tiny.py:distill", student, *tok,
              f"--config.sft.train_file={rs / 'data.jsonl'}", "--config.sft.steps=4",
              "--config.sft.batch_size=8", "--config.sft.checkpoint_every=0",
              "--config.sft.max_len=64", "--config.eval.num_problems=8",
              "--config.eval.batch_size=8")
  assert "model saved" in log
  teacher_cfg = json.loads((rl / "model" / "model_config.json").read_text())
  student_cfg = json.loads((student / "model" / "model_config.json").read_text())
  assert student_cfg["d_model"] * student_cfg["num_layers"] < (
      teacher_cfg["d_model"] * teacher_cfg["num_layers"])

  ev = tmp_path / "eval"
  log = _main("eval_main", "eval_arith_tiny.py", ev, *tok,
              f"--config.model.init_checkpoint={student / 'model'}",
              "--config.test_time.num_problems=8", "--config.test_time.batch_size=8",
              "--config.test_time.ks=(1,2)", "--config.test_time.budgets=(4,12)",
              "--config.sampler.max_new_tokens=16")
  assert "Sequential scaling" in log and (ev / "eval_summary.json").is_file()

  out = tmp_path / "hf"
  _run(["-m", "r1jax.models.hf", "export", str(rl), str(out)])
  assert (out / "tokenizer.json").is_file() and (out / "config.json").is_file()
  config, params = locate.load(rl)
  tokens = np.asarray(bpe_tokenizer.load(tok_dir).encode("2+3+4\n<think>2+3=5\n"), np.int32)
  ours = np.asarray(jax.jit(lambda p, t: Transformer(config).apply({"params": p}, t))(
      params, jnp.asarray(tokens[None])))[0]
  ref = _numpy_forward(out, tokens)
  err = np.max(np.abs(ours - ref))
  assert err < ATOL, err
