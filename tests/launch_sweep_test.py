"""launch/slurm_sweep.sh (array job over a sweep's runs, then the comparison) under stand-ins
for sbatch, and the TPU VM script's one-sweep-run-per-slice command."""
import os
import pathlib
import subprocess
import sys

from r1jax import results

REPO = pathlib.Path(__file__).resolve().parents[1]
LAUNCH = REPO / "launch"

TOY_SWEEP = ("from r1jax.sweep.spec import Sweep, axis\n"
             "def get_sweep(arg=None):\n"
             "  return Sweep(config='tests/fixtures/sweep/toy_config.py',\n"
             "               main='tests/fixtures/sweep/toy_main.py', seeds=(0,),\n"
             "               axes=axis('rate', {'a': {'rate': 0.1}, 'b': {'rate': 0.2}}))\n")

# sbatch stand-in: an array script runs every task index in turn; --parsable prints a job id.
FAKE_SBATCH = """#!/usr/bin/env bash
set -euo pipefail
script="${@: -1}"
if grep -q -- '--array=' "$script"; then
  n=$(sed -n 's/^#SBATCH --array=0-\\([0-9]*\\).*/\\1/p' "$script")
  for i in $(seq 0 "$n"); do SLURM_ARRAY_TASK_ID=$i bash "$script"; done
  echo 77
else
  bash "$script"
fi
"""


def _env(tmp_path, **kw):
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir(exist_ok=True)
  (bin_dir / "sbatch").write_text(FAKE_SBATCH)
  (bin_dir / "sbatch").chmod(0o755)
  env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
         "VENV": str(pathlib.Path(sys.executable).parent.parent), "PYTHONPATH": str(REPO), **kw}
  if "DRY_RUN" not in kw:
    env.pop("DRY_RUN", None)
  return env


def test_slurm_sweep_runs_every_run_then_compares(tmp_path):
  sweep = tmp_path / "toy.py"
  sweep.write_text(TOY_SWEEP)
  cmd = ["bash", str(LAUNCH / "slurm_sweep.sh"), "--sweep", str(sweep), "--workdir",
         str(tmp_path / "sw"), "--gpus", "0", "--max-parallel", "2"]
  dry = subprocess.run(cmd, env=_env(tmp_path, DRY_RUN="1"), capture_output=True, text=True)
  assert dry.returncode == 0, dry.stderr
  assert "# 2 runs" in dry.stdout and "#SBATCH --array=0-1%2" in dry.stdout
  assert not (tmp_path / "sw").exists()
  out = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stdout + out.stderr
  for run in ("rate-a.seed-0", "rate-b.seed-0"):
    assert results.is_finished(tmp_path / "sw" / run), run
  assert "| rate-b | 1 |" in (tmp_path / "sw" / "results.md").read_text()


def test_slurm_sweep_refuses_a_bad_sweep_before_submitting(tmp_path):
  bad = tmp_path / "bad.py"
  bad.write_text(TOY_SWEEP.replace("'rate': 0.2", "'rat': 0.2"))
  out = subprocess.run(["bash", str(LAUNCH / "slurm_sweep.sh"), "--sweep", str(bad),
                        "--workdir", str(tmp_path / "sw")], env=_env(tmp_path),
                       capture_output=True, text=True)
  assert out.returncode == 2 and "'rat'" in out.stderr and not (tmp_path / "sw").exists()


def test_tpu_vm_runs_one_sweep_run_per_slice():
  out = subprocess.run(["bash", str(LAUNCH / "tpu_vm.sh"), "run", "--name", "slice3", "--zone",
                        "z", "--sweep", "experiments/sweeps/kl.py", "--run-index", "3",
                        "--workdir", "/mnt/sw"], env={**os.environ, "DRY_RUN": "1"},
                       capture_output=True, text=True)
  assert out.returncode == 0, out.stderr
  cmd = out.stdout.replace("\\", "")
  for part in ("experiments/sweep_main.py", "--sweep=experiments/sweeps/kl.py",
               "--run_index=3", "-- --config.distributed.enabled=on", "--worker=all"):
    assert part in cmd, part
  missing = subprocess.run(["bash", str(LAUNCH / "tpu_vm.sh"), "run", "--name", "s", "--zone",
                            "z", "--sweep", "experiments/sweeps/kl.py", "--workdir", "/w"],
                           env={**os.environ, "DRY_RUN": "1"}, capture_output=True, text=True)
  assert missing.returncode == 2 and "--run-index" in missing.stderr
