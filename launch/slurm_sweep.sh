#!/usr/bin/env bash
# A sweep (experiments/sweeps/*.py) on SLURM: one array task per sweep run, each running
# experiments/sweep_main.py --run_index=$SLURM_ARRAY_TASK_ID (the same runner as on one
# machine: a finished run is skipped, an unfinished one resumes), then one job after the array
# that writes results.md and curves.png (python -m r1jax.eval.compare).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: launch/slurm_sweep.sh --sweep FILE[:VARIANT] --workdir DIR [options] [-- extra flags]

Writes DIR/slurm/sweep.sbatch and DIR/slurm/compare.sbatch and submits them with sbatch.

Options:
  --sweep FILE[:VARIANT]  sweep file, e.g. experiments/sweeps/kl.py or ...kl.py:smoke
  --workdir DIR           the sweep directory (one subdirectory per run); on a file system
                          every node sees
  --gpus G                GPUs per run (default 1; one run = one single-node task)
  --max-parallel M        at most M runs at once (default: all)
  --partition P           SLURM partition (default: the cluster's default)
  --account A             SLURM account (default: none)
  --time T                time limit per run, e.g. 4:00:00 (default: the partition's)
  --job-name NAME         default r1jax-sweep
  -h, --help              this help

Environment variables:
  VENV      virtual environment with r1jax (and jax[cuda12] for GPUs), on a shared file
            system (default: <repo>/.venv-gpu); its python also lists the runs at submit time
  SBATCH    the submit command (default: sbatch)
  DRY_RUN   1: print the two batch scripts instead of submitting them

Anything after "--" is passed to every run's entry point, e.g. -- --config.data.data_dir=/data
USAGE
}

die() { echo "error: $*" >&2; exit 2; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sweep="" workdir="" gpus=1 max_parallel="" partition="" account="" time_limit=""
job_name="r1jax-sweep"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sweep) sweep="${2:?--sweep needs a value}"; shift 2 ;;
    --workdir) workdir="${2:?--workdir needs a value}"; shift 2 ;;
    --gpus) gpus="${2:?--gpus needs a value}"; shift 2 ;;
    --max-parallel) max_parallel="${2:?--max-parallel needs a value}"; shift 2 ;;
    --partition) partition="${2:?--partition needs a value}"; shift 2 ;;
    --account) account="${2:?--account needs a value}"; shift 2 ;;
    --time) time_limit="${2:?--time needs a value}"; shift 2 ;;
    --job-name) job_name="${2:?--job-name needs a value}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -n "$sweep" ]] || die "--sweep is required (see --help)"
[[ -n "$workdir" ]] || die "--workdir is required (see --help)"
[[ "$gpus" =~ ^[0-9]+$ ]] || die "--gpus must be a number, got '$gpus'"
[[ -z "$max_parallel" || "$max_parallel" =~ ^[1-9][0-9]*$ ]] || \
  die "--max-parallel must be a positive integer, got '$max_parallel'"
[[ -f "${sweep%%:*}" ]] || die "sweep file '${sweep%%:*}' not found"

venv="${VENV:-$repo/.venv-gpu}"
python="$venv/bin/python"
[[ -x "$python" ]] || die "no virtual environment at $venv: create it first (BUILD.md)"

abs() { [[ "$1" == /* ]] && echo "$1" || echo "$PWD/$1"; }
sweep_path="$(abs "${sweep%%:*}")"
[[ "$sweep" == *:* ]] && sweep_path="$sweep_path:${sweep#*:}"
workdir="$(abs "$workdir")"

# The sweep is expanded (and checked: a bad sweep fails here, before any job) to count runs.
runs="$(cd "$repo" && "$python" experiments/sweep_main.py --sweep="$sweep_path" \
  --workdir="$workdir" --list)" || die "the sweep did not expand (see above)"
count="$(printf '%s\n' "$runs" | grep -c .)"
[[ "$count" -gt 0 ]] || die "the sweep has no runs"
array="0-$((count - 1))"
[[ -n "$max_parallel" ]] && array="$array%$max_parallel"

headers=("--job-name=$job_name" "--nodes=1" "--ntasks=1" "--array=$array"
         "--output=$workdir/slurm/%A_%a.out")
[[ "$gpus" -gt 0 ]] && headers+=("--gpus-per-node=$gpus")
[[ -n "$partition" ]] && headers+=("--partition=$partition")
[[ -n "$account" ]] && headers+=("--account=$account")
[[ -n "$time_limit" ]] && headers+=("--time=$time_limit")

q() { printf '%q' "$1"; }
run_script="#!/usr/bin/env bash
$(printf '#SBATCH %s\n' "${headers[@]}")
set -euo pipefail
cd $(q "$repo")
exec $(q "$python") experiments/sweep_main.py --sweep=$(q "$sweep_path") \\
  --workdir=$(q "$workdir") --run_index=\"\$SLURM_ARRAY_TASK_ID\" --$(printf ' %q' "$@")
"
compare_script="#!/usr/bin/env bash
#SBATCH --job-name=$job_name-compare
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --output=$workdir/slurm/compare_%j.out
set -euo pipefail
cd $(q "$repo")
exec $(q "$python") -m r1jax.eval.compare $(q "$workdir")
"

if [[ "${DRY_RUN:-0}" == "1" ]]; then
  echo "# $count runs"
  printf '%s\n' "$runs"
  printf '%s' "$run_script"
  printf '%s' "$compare_script"
  exit 0
fi
mkdir -p "$workdir/slurm"
printf '%s' "$run_script" > "$workdir/slurm/sweep.sbatch"
printf '%s' "$compare_script" > "$workdir/slurm/compare.sbatch"
job="$("${SBATCH:-sbatch}" --parsable "$workdir/slurm/sweep.sbatch")"
echo "array job ${job%%;*}: $count runs"
# afterany: the table is written from whatever finished (re-running this script resumes).
"${SBATCH:-sbatch}" --dependency="afterany:${job%%;*}" "$workdir/slurm/compare.sbatch"
