"""The RL trainer end to end on a shrunk tiny config: every algorithm, resume, bad configs, NaN."""
import importlib.util
import json
import os
import pathlib
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

import rl_harness

from r1jax.rl.algorithms import ALGORITHMS
from r1jax.train import rl_trainer, setup
from r1jax.models import params as params_lib

REPO = pathlib.Path(__file__).resolve().parents[1]


tiny_config = rl_harness.tiny_config  # tests/configs/tiny_resume.py at 2 steps.


def _params_of(workdir, step):
  """Params saved at `step`, read back as host arrays."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  path = pathlib.Path(workdir) / "checkpoints" / str(step) / "state"
  return ocp.StandardCheckpointer().restore(path.resolve())["state"]["params"]


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_two_steps_of_every_algorithm(algorithm, tmp_path):
  cfg = tiny_config(**{"rl.algorithm": algorithm, "rl.kl_coef": 0.01,
                       "rl.num_minibatches": 2, "rl.grad_accum": 2, "rl.score_chunks": 2})
  rl_trainer.train_and_evaluate(cfg, str(tmp_path))
  rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  train_rows = [r for r in rows if "loss" in r]
  assert [r["step"] for r in train_rows] == [1, 2]
  for r in train_rows:
    for k in ("loss", "train/pg_loss", "train/grad_norm", "train/clip_frac", "train/entropy",
              "reward/total", "response/length_mean"):
      assert np.isfinite(float(r[k])), (k, r[k])
  p0, p2 = _params_of(tmp_path, 0), _params_of(tmp_path, 2)
  leaves0, leaves2 = jax.tree.leaves(p0), jax.tree.leaves(p2)
  assert all(np.isfinite(np.asarray(x)).all() for x in leaves2)
  assert any(not np.array_equal(a, b) for a, b in zip(leaves0, leaves2)), "params unchanged"


# KL on (a reference that must survive the resume) and two passes per batch.
RESUME_FLAGS = ("--config.rl.kl_coef=0.05", "--config.rl.num_iterations=2")


def _run_main(workdir, total_steps, kill_after=None, expect_rc=None):
  """grpo_main in a subprocess; with kill_after, SIGTERM once that step has been logged (the
  run then exits with the preempted status, 75)."""
  if expect_rc is None:
    expect_rc = 0 if kill_after is None else 75
  cfg_file = REPO / "tests" / "configs" / "tiny_resume.py"
  cmd = [sys.executable, str(REPO / "experiments" / "grpo_main.py"), f"--config={cfg_file}",
         f"--workdir={workdir}", f"--config.total_steps={total_steps}", *RESUME_FLAGS]
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, cwd=REPO)
  out = []
  for line in proc.stdout:
    out.append(line)
    if kill_after is not None and line.startswith(f"step {kill_after}/"):
      proc.send_signal(signal.SIGTERM)
      kill_after = None
  proc.wait(timeout=600)
  assert proc.returncode == expect_rc, "".join(out[-40:])
  return "".join(out)


def _train_rows(workdir):
  rows = {}
  for line in (pathlib.Path(workdir) / "metrics.jsonl").read_text().splitlines():
    r = json.loads(line)
    if "loss" in r:
      rows[r["step"]] = {k: v for k, v in r.items() if not k.startswith(("time/", "throughput/"))}
  return rows


def test_exact_resume_after_sigterm(tmp_path):
  """6 steps straight == 3+ steps, SIGTERM (final checkpoint), then resume to 6: identical
  params and metrics, with a KL reference (a resume that restored the policy as the
  reference would change every KL after step 3) and two passes per batch. Runs the real
  entry point in subprocesses (~1-2 min)."""
  straight, resumed = tmp_path / "straight", tmp_path / "resumed"
  _run_main(straight, 6)
  log = _run_main(resumed, 6, kill_after=3)
  assert "SIGTERM" in log
  log = _run_main(resumed, 6)
  assert "Resumed from" in log
  a, b = _train_rows(straight), _train_rows(resumed)
  assert sorted(a) == sorted(b) == [1, 2, 3, 4, 5, 6]
  for step in a:
    assert a[step] == b[step], f"metrics differ at step {step}"
  assert all(a[s]["kl"] > 0 for s in a if s > 1)  # The reference really is in use.
  for x, y in zip(jax.tree.leaves(_params_of(straight, 6)),
                  jax.tree.leaves(_params_of(resumed, 6))):
    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("field,value,match", [
    ("rl.algorithm", "grpo2", "config.rl.algorithm"),
    ("model.preset", "gpt-9", "config.model.preset"),
    ("sampler.group_size", 1, "config.sampler.group_size"),
    ("rl.num_minibatches", 3, "config.rl.num_minibatches"),
    ("eval.accuracy_reward", "vibes", "config.eval.accuracy_reward"),
    ("model.attention_impl", "flash", "config.model.attention_impl"),
    ("distributed.enabled", "maybe", "config.distributed"),
    ("optim.lr", -1e-4, r"config.optim.lr: must be a number > 0, got -0.0001"),
    ("optim.name", "lion", "config.optim.name"),
    ("optim.schedule", "step", "config.optim.schedule"),
    ("warm_start.lr", 0.0, "config.warm_start.lr"),
    ("eval.every", 0, r"config.eval.every: must be an int > 0, got 0"),
    ("log_every", 0, r"config.log_every: must be an int > 0, got 0"),
    ("total_steps", -1, r"config.total_steps: must be an int >= 0, got -1"),
    ("checkpoint.every", -1, "config.checkpoint.every"),
    ("eval.temperature", -1.0, "config.eval.temperature"),
    ("data.data_dir", "/no/such/folder", "config.data.data_dir: /no/such/folder is not a dir"),
    ("data.source", "gsm8k", r"config.data.data_dir: not set, and data.source 'gsm8k'"),
])
def test_bad_configs_fail_before_compute(field, value, match, tmp_path):
  """Each rule fails before compute and before any write: an existing workdir's config.json
  stays as it was."""
  (tmp_path / "config.json").write_text("{}")
  cfg = tiny_config(**{field: value})
  if field == "warm_start.lr":
    cfg.warm_start.sft_steps = 1
  with pytest.raises(setup.ConfigError, match=match) as e:
    rl_trainer.train_and_evaluate(cfg, str(tmp_path))
  assert "\n" not in str(e.value)  # One line.
  assert not (tmp_path / "checkpoints").exists()
  assert (tmp_path / "config.json").read_text() == "{}"


def test_a_main_reports_a_bad_config_in_one_line(tmp_path):
  """Through grpo_main: exit 1, one 'error:' line naming the field, no traceback, no files."""
  out = subprocess.run(
      [sys.executable, str(REPO / "experiments" / "grpo_main.py"),
       f"--config={REPO / 'tests' / 'configs' / 'tiny_resume.py'}", f"--workdir={tmp_path / 'w'}",
       "--config.optim.lr=-0.001"],
      capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)))
  assert out.returncode == 1, out.stdout + out.stderr
  assert "error: config.optim.lr: must be a number > 0, got -0.001" in out.stderr
  assert "Traceback" not in out.stdout + out.stderr
  assert not (tmp_path / "w" / "config.json").exists()


def test_unknown_reward_and_indivisible_batch(tmp_path):
  cfg = tiny_config()
  cfg.rewards.charisma = 1.0
  with pytest.raises(setup.ConfigError, match="config.rewards.charisma"):
    rl_trainer.train_and_evaluate(cfg, str(tmp_path))
  with pytest.raises(setup.ConfigError, match="prompts_per_step"):
    rl_trainer.train_and_evaluate(tiny_config(prompts_per_step=6), str(tmp_path))


def test_nan_reward_weight_is_a_config_error(tmp_path):
  cfg = tiny_config()
  cfg.rewards.math_accuracy = float("nan")
  with pytest.raises(setup.ConfigError, match="config.rewards"):
    rl_trainer.train_and_evaluate(cfg, str(tmp_path))


def test_zero_steps_publishes_the_warm_start_every_run_starts_from(tmp_path):
  """total_steps=0 is the warm start alone, evaluated and published as <workdir>/model: the
  very params a run of the same seed with RL steps starts from (its step-0 checkpoint)."""
  from r1jax.models import orbax_io  # pylint: disable=g-import-not-at-top
  flags = {"warm_start.sft_steps": 3, "warm_start.batch_size": 8, "warm_start.warmup_steps": 1}
  rl_trainer.train_and_evaluate(tiny_config(total_steps=0, **flags), str(tmp_path / "ws"))
  rl_trainer.train_and_evaluate(tiny_config(total_steps=1, **flags), str(tmp_path / "rl"))
  _, published = orbax_io.load_orbax(tmp_path / "ws" / "model")
  start = _params_of(tmp_path / "rl", 0)
  for x, y in zip(jax.tree.leaves(published), jax.tree.leaves(start), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  rows = [json.loads(l) for l in (tmp_path / "ws" / "metrics.jsonl").read_text().splitlines()]
  assert not any("loss" in r for r in rows)  # No RL step ran.
  assert any("sft/loss" in r for r in rows)  # The warm start ran (its rows precede step 0).
  assert [r["step"] for r in rows if any(k.startswith("eval/") for k in r)] == [0]


def test_nan_loss_stops_with_step_and_checkpoint(tmp_path):
  # An absurd learning rate makes the params overflow after the first update, so the loss of
  # step 2 is not finite; the run must stop there and name the last good checkpoint (step 0).
  cfg = tiny_config(**{"optim.lr": 1e38, "optim.grad_clip": 0.0, "total_steps": 3})
  with pytest.raises(FloatingPointError, match=r"RL step 2.*checkpoint: step 0"):
    rl_trainer.train_and_evaluate(cfg, str(tmp_path))


def test_real_model_config_runs_from_an_hf_checkpoint(tmp_path):
  """The Qwen2.5 config, shrunk, on the tiny Qwen2 parity checkpoint: HF load, fsdp over 8
  devices, bf16 compute with fp32 params, remat, chunked scoring."""
  spec = importlib.util.spec_from_file_location(
      "qwen25_gsm8k", REPO / "experiments" / "configs" / "qwen25_gsm8k.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config("0.5b")
  c.model.hf_checkpoint = str(REPO / "tests" / "fixtures" / "hf_parity" / "qwen2")
  c.tokenizer = "char:math"  # The fixture has weights only; 83 ids < its 128-row vocab.
  c.data.source = "arith"
  c.data.knobs = dict(difficulty="easy", min_ops=1, max_ops=1, digits=1, operators="+-")
  c.data.max_prompt_len = 384  # The R1-Zero template is ~360 characters.
  c.total_steps, c.prompts_per_step = 1, 8
  c.sampler.group_size, c.sampler.max_new_tokens = 2, 8
  c.rl.num_minibatches, c.rl.grad_accum, c.rl.score_chunks = 1, 2, 2
  c.eval.num_problems, c.eval.k, c.eval.batch_size = 8, 0, 8
  c.reward_workers = 0
  c.checkpoint.async_save = False
  rl_trainer.train_and_evaluate(c, str(tmp_path))
  rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert any("loss" in r and np.isfinite(float(r["loss"])) for r in rows)
  params = _params_of(tmp_path, 1)
  assert params["layers"]["attn"]["q_proj"]["bias"].dtype == np.float32  # fp32 master copy


def test_scoring_with_fused_attention_matches_dense():
  """rl_step scores rows as one run each (single_segment): the rolled causal form of the fused
  kernels gives the dense log-probs on every completion token (float32, atol 2e-5)."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  from r1jax.models import presets  # pylint: disable=g-import-not-at-top
  from r1jax.train import rl_step  # pylint: disable=g-import-not-at-top
  mc = presets.get("tiny", vocab_size=40)
  params = params_lib.init_params(mc, jax.random.key(0))
  rng = np.random.default_rng(0)
  B, P, G, T = 3, 6, 2, 5
  prompts = rng.integers(1, 40, (B, P)).astype(np.int32)
  pmask = np.arange(P)[None] >= np.array([[0], [2], [4]])  # Left padding of 0, 2, 4.
  comp = rng.integers(1, 40, (B * G, T)).astype(np.int32)
  cmask = np.arange(T)[None] < np.array([[5], [3], [1], [4], [2], [5]])  # Right padding.
  tokens, seg, pos = rl_step.sequences(prompts, pmask, comp, cmask, n=G)
  logp = {}
  for impl in ("dense", "xla"):
    cfg = dataclasses.replace(mc, attention_impl=impl)
    logp[impl], _, _ = rl_step.completion_logprobs(params, cfg, tokens, seg, pos, T)
  np.testing.assert_allclose(np.where(cmask, logp["xla"], 0), np.where(cmask, logp["dense"], 0),
                             atol=2e-5)
