#!/usr/bin/env bash
# Multi-node GPU runs under SLURM: submits one job of N nodes with one r1jax process per node
# (each process drives all GPUs of its node); the first node of the allocation hosts JAX's
# distributed coordinator. srun's --kill-on-bad-exit ends every process when one fails.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: launch/gpu_slurm.sh --nodes N --config FILE[:ARG] --workdir DIR [options] [-- extra flags]

Writes a batch script next to the run (DIR/slurm/job.sbatch) and submits it with sbatch.

Options:
  --nodes N             nodes (= processes) in the job
  --config FILE[:ARG]   experiment config, e.g. experiments/configs/qwen25_gsm8k.py:1.5b
  --workdir DIR         checkpoints, metrics and SLURM logs; must be on a file system every
                        node sees (each process writes its own shards of each checkpoint)
  --gpus-per-node G     GPUs per node (default 8)
  --partition P         SLURM partition (default: the cluster's default)
  --account A           SLURM account (default: none)
  --time T              time limit, e.g. 24:00:00 (default: the partition's)
  --job-name NAME       default r1jax
  --port PORT           coordinator port on the first node (default 20000 + job id % 10000)
  --entry FILE          entry point (default: the repository's experiments/grpo_main.py)
  -h, --help            this help

Environment variables:
  VENV          virtual environment with r1jax and jax[cuda12], on a shared file system
                (default: <repo>/.venv-gpu, made by launch/gpu_single_host.sh or BUILD.md)
  SBATCH        the submit command (default: sbatch)
  XLA_PYTHON_CLIENT_MEM_FRACTION
                share of GPU memory JAX preallocates in the job (default: 0.9)
  DRY_RUN       1: print the batch script instead of submitting it

Anything after "--" is passed to the entry point, e.g.
  -- --config.model.hf_checkpoint=/shared/models/Qwen2.5-1.5B --config.mesh.fsdp=-1
USAGE
}

die() { echo "error: $*" >&2; exit 2; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
nodes="" config="" workdir="" gpus=8 partition="" account="" time_limit="" job_name="r1jax"
port="" entry="$repo/experiments/grpo_main.py"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --nodes) nodes="${2:?--nodes needs a value}"; shift 2 ;;
    --config) config="${2:?--config needs a value}"; shift 2 ;;
    --workdir) workdir="${2:?--workdir needs a value}"; shift 2 ;;
    --gpus-per-node) gpus="${2:?--gpus-per-node needs a value}"; shift 2 ;;
    --partition) partition="${2:?--partition needs a value}"; shift 2 ;;
    --account) account="${2:?--account needs a value}"; shift 2 ;;
    --time) time_limit="${2:?--time needs a value}"; shift 2 ;;
    --job-name) job_name="${2:?--job-name needs a value}"; shift 2 ;;
    --port) port="${2:?--port needs a value}"; shift 2 ;;
    --entry) entry="${2:?--entry needs a value}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -n "$nodes" ]] || die "--nodes is required (see --help)"
[[ -n "$config" ]] || die "--config is required (see --help)"
[[ -n "$workdir" ]] || die "--workdir is required (see --help)"
[[ "$nodes" =~ ^[1-9][0-9]*$ ]] || die "--nodes must be a positive integer, got '$nodes'"
[[ "$gpus" =~ ^[1-9][0-9]*$ ]] || die "--gpus-per-node must be a positive integer, got '$gpus'"
[[ -z "$port" || "$port" =~ ^[0-9]+$ ]] || die "--port must be a number, got '$port'"
[[ -f "${config%%:*}" ]] || die "config file '${config%%:*}' not found"
[[ -f "$entry" ]] || die "entry point '$entry' not found"

venv="${VENV:-$repo/.venv-gpu}"
[[ "${DRY_RUN:-0}" == "1" || -x "$venv/bin/python" ]] || \
  die "no virtual environment at $venv: create it first (BUILD.md, 'One GPU host')"

# Absolute paths: the job starts in SLURM's working directory on another node.
abs() { [[ "$1" == /* ]] && echo "$1" || echo "$PWD/$1"; }
config_path="$(abs "${config%%:*}")"
[[ "$config" == *:* ]] && config_path="$config_path:${config#*:}"
workdir="$(abs "$workdir")"
entry="$(abs "$entry")"

headers=("--job-name=$job_name" "--nodes=$nodes" "--ntasks-per-node=1"
         "--gpus-per-node=$gpus" "--output=$workdir/slurm/%j.out")
[[ -n "$partition" ]] && headers+=("--partition=$partition")
[[ -n "$account" ]] && headers+=("--account=$account")
[[ -n "$time_limit" ]] && headers+=("--time=$time_limit")

args=(--config="$config_path" --workdir="$workdir" "$@")
script="#!/usr/bin/env bash
$(printf '#SBATCH %s\n' "${headers[@]}")
set -euo pipefail
# The first node of the allocation hosts the coordinator; every task learns its index
# from SLURM_PROCID (one task per node). All host names are read (no '| head', whose early
# exit can kill scontrol with SIGPIPE, and pipefail then fails the job under load).
mapfile -t hosts < <(scontrol show hostnames \"\$SLURM_JOB_NODELIST\")
head=\${hosts[0]:?no hosts in SLURM_JOB_NODELIST}
port=${port:-\$((20000 + SLURM_JOB_ID % 10000))}
echo \"r1jax: \$SLURM_NNODES nodes, coordinator \$head:\$port\"
export XLA_PYTHON_CLIENT_MEM_FRACTION=\${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9}
# SLURM_PROCID differs per task, so it is read inside each task's shell.
srun --kill-on-bad-exit=1 --ntasks-per-node=1 bash -c 'exec \"\${@:2}\" \\
    --config.distributed.coordinator_address=\"\$1\" \\
    --config.distributed.num_processes=\"\$SLURM_NTASKS\" \\
    --config.distributed.process_id=\"\$SLURM_PROCID\"' task \"\$head:\$port\" \\
  $(printf '%q' "$venv/bin/python") $(printf '%q' "$entry")$(printf ' %q' "${args[@]}")
"

if [[ "${DRY_RUN:-0}" == "1" ]]; then
  printf '%s' "$script"
  exit 0
fi
mkdir -p "$workdir/slurm"
printf '%s' "$script" > "$workdir/slurm/job.sbatch"
"${SBATCH:-sbatch}" "$workdir/slurm/job.sbatch"
