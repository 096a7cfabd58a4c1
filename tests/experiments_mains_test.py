"""The recipe commands end to end in subprocesses, on shrunk configs (seconds, tiny model)."""
import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest
import xla_env

from r1jax.recipe import shards

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = REPO / "experiments" / "configs"

# Shrunk to seconds: the tiny preset, a few steps, a handful of problems.
SFT = ["--config.model.preset=tiny", "--config.sft.steps=6", "--config.sft.batch_size=8",
       "--config.sft.checkpoint_every=4", "--config.sft.log_every=2",
       "--config.eval.num_problems=8", "--config.eval.batch_size=8"]
RS = ["--config.rs.num_prompts=24", "--config.rs.prompts_per_batch=8",
      "--config.rs.shard_prompts=8", "--config.sampler.group_size=4",
      "--config.sampler.max_new_tokens=16", "--config.rs.filters.required=()",
      "--config.rs.filters.correct=False"]  # An untrained model is never right: keep all.
EVAL = ["--config.test_time.num_problems=8", "--config.test_time.batch_size=8",
        "--config.test_time.ks=(1,2)", "--config.test_time.budgets=(1,4)",
        "--config.sampler.max_new_tokens=12"]


def _main(name, config, workdir, *flags, kill_on=None):
  """Runs experiments/<name>.py and returns its output; with kill_on, SIGKILLs it once a line
  starts with that text (and expects it to die)."""
  cmd = [sys.executable, str(REPO / "experiments" / f"{name}.py"),
         f"--config={CONFIGS / config}", f"--workdir={workdir}", *flags]
  # One CPU device, as a laptop run of these commands: the mesh paths are tested in-process,
  # and 8 virtual devices on 2 cores only slow a subprocess's compiles down.
  env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO),
             **xla_env.env(1))
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, cwd=REPO)
  out, killed = [], False
  for line in proc.stdout:
    out.append(line)
    if kill_on is not None and not killed and line.startswith(kill_on):
      proc.send_signal(signal.SIGKILL)
      killed = True
  proc.wait(timeout=600)
  log = "".join(out)
  if kill_on is not None:
    assert killed and proc.returncode == -signal.SIGKILL, log[-4000:]
  else:
    assert proc.returncode == 0, log[-4000:]
  return log


def test_sft_then_rejection_sampling_then_distill_then_eval(tmp_path):
  log = _main("sft_main", "sft_arith_tiny.py", tmp_path / "sft", *SFT)
  assert "sft 6/6" in log and "model saved" in log and "eval/pass@1" in log
  model = tmp_path / "sft" / "model"
  assert (model / "model_config.json").is_file()
  result = json.loads((tmp_path / "sft" / "result.json").read_text())
  assert result["eval"]["eval/num_problems"] == 8

  ckpt = f"--config.model.init_checkpoint={model}"
  log = _main("rejection_sampling_main", "rs_arith_tiny.py", tmp_path / "rs", ckpt, *RS)
  assert "shard 3/3" in log
  rows, info = shards.load(tmp_path / "rs")
  assert info["rows"] == len(rows) > 0 and info["provenance"]["checkpoint"]["path"] == str(model)
  assert info["provenance"]["config"]["rs"]["num_prompts"] == 24

  log = _main("sft_main", "sft_arith_tiny.py:distill", tmp_path / "student", *SFT,
              f"--config.sft.train_file={tmp_path / 'rs' / 'data.jsonl'}")
  assert "model saved" in log

  log = _main("eval_main", "eval_arith_tiny.py", tmp_path / "eval",
              f"--config.model.init_checkpoint={tmp_path / 'student' / 'model'}", *EVAL)
  assert "Sequential scaling" in log
  for name in ("eval_summary.md", "eval_summary.json", "budget_arith_test.png",
               "scaling_arith_test.png"):
    assert (tmp_path / "eval" / name).is_file(), name


@pytest.mark.slow
def test_killed_rejection_sampling_resumes_to_the_same_dataset(tmp_path):
  _main("sft_main", "sft_arith_tiny.py", tmp_path / "sft", *SFT,
        "--config.eval.num_problems=0")
  ckpt = f"--config.model.init_checkpoint={tmp_path / 'sft' / 'model'}"
  _main("rejection_sampling_main", "rs_arith_tiny.py", tmp_path / "straight", ckpt, *RS)
  _main("rejection_sampling_main", "rs_arith_tiny.py", tmp_path / "killed", ckpt, *RS,
        kill_on="shard 1/3")
  assert not shards.is_complete(tmp_path / "killed")
  log = _main("rejection_sampling_main", "rs_arith_tiny.py", tmp_path / "killed", ckpt, *RS)
  assert "shard 1/3: already written, skipped" in log
  for name in (shards.DATA_FILE, shards.INFO_FILE):
    assert ((tmp_path / "killed" / name).read_bytes()
            == (tmp_path / "straight" / name).read_bytes()), name


@pytest.mark.slow
def test_expert_iteration_main(tmp_path):
  flags = ["--config.model.preset=tiny", "--config.warm_start.sft_steps=8",
           "--config.warm_start.batch_size=8", "--config.ei.rounds=2", *SFT[1:],
           *RS, "--config.eval.k=2", "--config.eval.k_problems=8"]
  log = _main("ei_main", "ei_arith_tiny.py", tmp_path, *flags)
  assert "| round | kept | union |" in log
  history = json.loads((tmp_path / "ei_summary.json").read_text())
  assert [h["round"] for h in history] == [0, 1, 2]
  assert (tmp_path / "ei_pass_at_1.png").is_file()
  again = _main("ei_main", "ei_arith_tiny.py", tmp_path, *flags)  # Finished: nothing redone.
  assert "SFT from the initial model" not in again
  assert json.loads((tmp_path / "ei_summary.json").read_text()) == history
