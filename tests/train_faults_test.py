"""Faults that must not lose a run, through the paths a run takes (trainer, mains).

A corrupt latest checkpoint and a torn metrics row (in-process trainer runs), a workdir held by
another live process (the mains in subprocesses). Pool worker deaths: rewards_pool_test.py;
full disks: train_checkpoint_test.py and train_metrics_test.py; preemption exit status:
train_rl_trainer_test.py::test_exact_resume_after_sigterm.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from r1jax.train import checkpoint, data_fingerprint, rl_trainer, setup, workdir_lock
from train_rl_trainer_test import _params_of, tiny_config

REPO = pathlib.Path(__file__).resolve().parents[1]


def _rows(workdir):
  return [json.loads(l) for l in (pathlib.Path(workdir) / "metrics.jsonl").read_text()
          .splitlines()]


def test_corrupt_checkpoint_and_torn_metrics_row_resume_to_the_same_result(tmp_path, capsys):
  cfg = tiny_config(**{"total_steps": 1})
  rl_trainer.train_and_evaluate(cfg, str(tmp_path))
  ckpts = tmp_path / "checkpoints"
  assert sorted(int(p.name) for p in ckpts.iterdir()) == [0, 1]
  straight_rows = [r for r in _rows(tmp_path) if "loss" in r]
  # The latest step rots (its data position is cut short); a kill tore the last metrics row.
  meta = ckpts / "1" / "extra" / "metadata"
  meta.write_bytes(meta.read_bytes()[:20])
  with open(tmp_path / "metrics.jsonl", "a") as f:
    f.write('{"step": 2, "loss": 0.1')
  capsys.readouterr()

  rl_trainer.train_and_evaluate(cfg, str(tmp_path))
  out = capsys.readouterr()
  log = out.out + out.err
  assert f"checkpoint step 1 in {ckpts / '1'} does not restore: JSONDecodeError" in log
  assert "Resumed from" in log and "at RL step 0" in log
  assert "dropped a torn last row" in log
  rows = _rows(tmp_path)  # Every line parses again.
  train_rows = [r for r in rows if "loss" in r]
  assert [r["step"] for r in train_rows] == [1]  # Step 1 was redone, and is there once.
  timeless = lambda r: {k: v for k, v in r.items() if not k.startswith(("time/", "throughput/"))}
  assert [timeless(r) for r in train_rows] == [timeless(r) for r in straight_rows]
  # The redone step 1 equals the one the first run wrote (kept aside, its params intact).
  aside = next((tmp_path / "checkpoints_skipped").iterdir())
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  first = ocp.StandardCheckpointer().restore((aside / "state").resolve())["state"]["params"]
  for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(_params_of(tmp_path, 1))):
    np.testing.assert_array_equal(a, b)
  assert json.loads((tmp_path / "summary.json").read_text())["end"]["step"] == 1

  # Resuming on other data is refused with that setting (before any RL step).
  changed = tiny_config(**{"checkpoint.on_data_change": "refuse", "total_steps": 2})
  changed.data.knobs.digits = 2
  with pytest.raises(data_fingerprint.DataChangedError, match=r"config.data.knobs"):
    rl_trainer.train_and_evaluate(changed, str(tmp_path))
  assert sorted(int(p.name) for p in ckpts.iterdir()) == [0, 1]
  # Strict restore refuses a corrupt latest step in one line naming it, and moves nothing.
  meta.write_bytes(meta.read_bytes()[:20])
  strict = tiny_config(**{"checkpoint.strict_restore": True, "total_steps": 2})
  with pytest.raises(checkpoint.CheckpointError,
                     match=rf"^checkpoint step 1 in {ckpts / '1'} does not restore: "):
    rl_trainer.train_and_evaluate(strict, str(tmp_path))
  assert sorted(int(p.name) for p in ckpts.iterdir()) == [0, 1]


def test_bad_data_change_policy_fails_before_compute(tmp_path):
  cfg = tiny_config(**{"checkpoint.on_data_change": "ignore"})
  with pytest.raises(setup.ConfigError, match="config.checkpoint.on_data_change"):
    rl_trainer.train_and_evaluate(cfg, str(tmp_path))
  assert not (tmp_path / "checkpoints").exists()


_HOLDER = """
import sys, time
from r1jax.train import workdir_lock
workdir_lock.acquire(sys.argv[1])
print("held", flush=True)
time.sleep(600)
"""

_MAINS = {  # main -> its config (the lock is taken before the config's checkpoint is read)
    "grpo_main": REPO / "tests" / "configs" / "tiny_resume.py",
    "sft_main": REPO / "experiments" / "configs" / "sft_arith_tiny.py",
    "rejection_sampling_main": REPO / "experiments" / "configs" / "rs_arith_tiny.py",
    "ei_main": REPO / "experiments" / "configs" / "ei_arith_tiny.py",
    "eval_main": REPO / "experiments" / "configs" / "eval_arith_tiny.py",
}


@pytest.fixture
def held_workdir(tmp_path):
  """A workdir locked by another live process (as a run in progress holds it)."""
  env = dict(os.environ, PYTHONPATH=str(REPO))
  holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, text=True)
  assert holder.stdout.readline().strip() == "held"
  yield tmp_path, holder.pid
  holder.kill()
  holder.wait()


@pytest.mark.parametrize("main", sorted(_MAINS))
def test_second_run_on_a_workdir_fails_at_once_naming_the_holder(held_workdir, main):
  workdir, pid = held_workdir
  (workdir / "summary.json").write_text("the first run's")
  start = time.monotonic()
  proc = subprocess.run([sys.executable, str(REPO / "experiments" / f"{main}.py"),
                         f"--config={_MAINS[main]}", f"--workdir={workdir}"],
                        capture_output=True, text=True, timeout=300, cwd=REPO)
  assert proc.returncode == 1, proc.stdout + proc.stderr
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith(f"error: {workdir} is in use by another run (pid {pid} on "), last
  assert "Traceback" not in proc.stderr
  assert time.monotonic() - start < 120  # Before any compute (imports only).
  assert sorted(p.name for p in workdir.iterdir()) == [".r1jax.lock", "summary.json"]
  assert (workdir / "summary.json").read_text() == "the first run's"


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
  # A run killed with SIGKILL leaves its holder text; the kernel dropped its flock.
  proc = subprocess.run([sys.executable, "-c", _HOLDER.replace("time.sleep(600)",
                                                               "import os; os._exit(0)"),
                         str(tmp_path)], env=dict(os.environ, PYTHONPATH=str(REPO)),
                        capture_output=True, text=True, timeout=120)
  assert proc.stdout.strip() == "held"
  note = workdir_lock.acquire(tmp_path)
  try:
    assert "took over the lock left by pid" in note and "(no longer running)" in note
    assert workdir_lock.acquire(tmp_path) == ""  # Re-entrant in one process.
    workdir_lock.release(tmp_path)
  finally:
    workdir_lock.release(tmp_path)
  assert (tmp_path / workdir_lock.LOCK_NAME).read_text() == ""  # Released cleanly.
  assert workdir_lock.acquire(tmp_path) == ""
  workdir_lock.release(tmp_path)


@pytest.mark.slow
def test_sigterm_of_a_recipe_main_exits_preempted_and_the_rerun_resumes(tmp_path):
  """sft_main: SIGTERM after a checkpoint exits 75 at once; the rerun resumes, warning that
  the data changed (~60 s)."""
  cmd = [sys.executable, str(REPO / "experiments" / "sft_main.py"),
         f"--config={_MAINS['sft_main']}", f"--workdir={tmp_path}",
         "--config.model.preset=tiny", "--config.sft.steps=4", "--config.sft.batch_size=8",
         "--config.sft.checkpoint_every=2", "--config.sft.log_every=1",
         "--config.eval.num_problems=0"]
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, cwd=REPO)
  out = []
  for line in proc.stdout:
    out.append(line)
    if line.startswith("sft 3/4"):  # After the step-2 checkpoint.
      proc.send_signal(signal.SIGTERM)
  proc.wait(timeout=300)
  log = "".join(out)
  assert proc.returncode == 75, log[-3000:]
  assert "preempted (SIGTERM); rerun the same command to resume (exit 75)" in log
  assert "Traceback" not in log
  assert not (tmp_path / "model").exists()
  # Rerun on changed data (a field the fingerprint covers; eval is off so nothing else
  # changes): it resumes, and says what changed.
  again = subprocess.run(cmd + ["--config.data.eval_split=test2"], capture_output=True,
                         text=True, env=env, cwd=REPO, timeout=300)
  assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
  assert "sft: resumed at step 2" in again.stdout and (tmp_path / "model").is_dir()
  assert ("warning: the data changed since the checkpoint "
          f"{tmp_path / 'checkpoints' / '2'} was written: config.data.eval_split 'test' -> "
          "'test2'; resuming anyway") in again.stdout


def test_data_fingerprint_names_changed_files(tmp_path):
  from r1jax.train.defaults import base_config  # pylint: disable=g-import-not-at-top
  (tmp_path / "gsm8k").mkdir()
  (tmp_path / "gsm8k" / "train.jsonl").write_text('{"question": "1+1", "answer": "2"}\n')
  (tmp_path / "gsm8k" / "test.jsonl").write_text('{"question": "2+2", "answer": "4"}\n')
  cfg = base_config()
  cfg.data.data_dir = str(tmp_path)
  before = data_fingerprint.compute(cfg)
  assert sorted(before["files"]) == ["data_dir/gsm8k/test.jsonl", "data_dir/gsm8k/train.jsonl"]
  assert before == json.loads(json.dumps(before))  # Stored in a checkpoint's JSON `extra`.
  data_fingerprint.check(before, data_fingerprint.compute(cfg), "refuse", "ckpt/3")  # Same.
  (tmp_path / "gsm8k" / "train.jsonl").write_text('{"question": "1+1", "answer": "3"}\n')
  (tmp_path / "gsm8k" / "extra.jsonl").write_text("{}\n")
  after = data_fingerprint.compute(cfg)
  assert data_fingerprint.differences(before, after) == [
      "data_dir/gsm8k/extra.jsonl added", "data_dir/gsm8k/train.jsonl changed (size 35 -> 35)"]
  notes = []
  data_fingerprint.check(before, after, "warn", "ckpt/3", log=notes.append)
  assert len(notes) == 1 and notes[0].startswith("warning: the data changed since the "
                                                 "checkpoint ckpt/3 was written: ")
  with pytest.raises(data_fingerprint.DataChangedError, match="train.jsonl changed"):
    data_fingerprint.check(before, after, "refuse", "ckpt/3")


def _grandchildren(pid):
  """Processes two levels below `pid` (the reward workers, children of the fork server)."""
  def children(p):
    out = []
    for task in pathlib.Path(f"/proc/{p}/task").iterdir():
      out += [int(c) for c in (task / "children").read_text().split()]
    return out
  return [g for c in children(pid) for g in children(c)]


@pytest.mark.slow
def test_idle_reward_workers_killed_mid_run_change_nothing(tmp_path):
  """grpo_main with 2 reward workers: SIGKILL both while idle after step 1 (as an OOM kill
  would); the run finishes with the metrics of an undisturbed run (~2 min)."""
  cfg_file = REPO / "tests" / "configs" / "tiny_resume.py"
  rows = {}
  for name in ("straight", "killed"):
    cmd = [sys.executable, str(REPO / "experiments" / "grpo_main.py"), f"--config={cfg_file}",
           f"--workdir={tmp_path / name}", "--config.total_steps=3", "--config.reward_workers=2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"), cwd=REPO)
    out, killed = [], []
    for line in proc.stdout:
      out.append(line)
      if name == "killed" and not killed and line.startswith("step 1/3"):
        killed = _grandchildren(proc.pid)
        for pid in killed:
          os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=600)
    assert proc.returncode == 0, "".join(out[-40:])
    assert name == "straight" or len(killed) == 2, killed
    rows[name] = [{k: v for k, v in r.items() if not k.startswith(("time/", "throughput/"))}
                  for r in _rows(tmp_path / name) if "loss" in r]
  assert [r["step"] for r in rows["killed"]] == [1, 2, 3]
  assert rows["killed"] == rows["straight"]
  assert all(r.get("reward_failures/math_accuracy", 0) == 0 for r in rows["killed"])


def test_file_system_without_flock_runs_with_a_warning(tmp_path, monkeypatch):
  import errno  # pylint: disable=g-import-not-at-top

  def no_flock(fd, op):
    raise OSError(errno.ENOLCK, "No locks available")

  monkeypatch.setattr(workdir_lock.fcntl, "flock", no_flock)
  notes = []
  with workdir_lock.hold(tmp_path, log=notes.append):
    pass
  assert len(notes) == 1 and "cannot lock" in notes[0] and "No locks available" in notes[0]
