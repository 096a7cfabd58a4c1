#!/usr/bin/env bash
# Cloud TPU VMs (one host or a pod slice) for r1jax: create, install, ship the code, run a
# config on every worker at once, follow the logs, tear down. Every worker runs the same
# command; JAX's distributed runtime finds the other workers from the VM metadata.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: launch/tpu_vm.sh COMMAND [options] [-- extra flags for the entry point]

Commands (typical order: create, setup, copy, run, delete):
  create   request the TPU VM as a queued resource (--spot for spot capacity) and wait
           until it is ACTIVE
  setup    on every worker: a virtual environment with r1jax and jax[tpu] (needs copy or
           --repo first; setup runs copy itself when the code is not there yet)
  copy     ship this checkout (tracked files plus uncommitted changes) to every worker,
           or, with --repo URL [--ref REF], git clone it there instead
  run      run --config on all workers (--worker=all) with the distributed runtime on;
           streams the output (all workers, interleaved) and keeps it in ~/r1jax-run.log on
           each worker; --detach starts it in the background and returns
  logs     follow ~/r1jax-run.log of one worker (--worker N, default 0)
  stop     kill the run on every worker
  delete   delete the queued resource and its TPU VM
  ssh      open a shell on one worker (--worker N, default 0)

Options:
  --name NAME            TPU VM / queued resource name (or TPU_NAME)
  --zone ZONE            e.g. us-central2-b (or TPU_ZONE)
  --project PROJECT      GCP project (or TPU_PROJECT; default: gcloud's configured project)
  --accelerator TYPE     e.g. v4-8, v4-32, v5litepod-16 (or TPU_ACCELERATOR); create only
  --version VERSION      TPU software version (or TPU_RUNTIME_VERSION); create only
  --spot                 spot capacity (cheaper, preemptible); create only
  --config FILE[:ARG]    run: experiment config, e.g. experiments/configs/qwen25_gsm8k.py:1.5b
  --workdir DIR          run: checkpoints and metrics; must be one directory that EVERY worker
                         sees (an NFS/Filestore mount, or a bucket mounted with gcsfuse):
                         every worker writes its own shards of each checkpoint there
  --entry FILE           run: entry point relative to the code dir (default
                         experiments/grpo_main.py)
  --sweep FILE[:VARIANT] run: one run of a sweep (experiments/sweeps/*.py) on this slice,
  --run-index I          instead of --config: experiments/sweep_main.py --run_index=I (the
                         index from 'sweep_main.py --list'); one slice per run, each with its
                         own --name; --workdir is the sweep directory
  --repo URL, --ref REF  copy: clone this repository (at REF) instead of shipping the checkout
  --worker N             logs/ssh: which worker (default 0)
  --detach               run: do not stream; follow later with 'logs'
  -h, --help             this help

Environment variables:
  TPU_NAME, TPU_ZONE, TPU_PROJECT, TPU_ACCELERATOR, TPU_RUNTIME_VERSION
                  defaults for the options above
  REMOTE_DIR      code directory on the workers (default: r1jax, under the home directory)
  REMOTE_VENV     virtual environment on the workers (default: r1jax-venv)
  JAX_TPU_EXTRA   pip extra of r1jax that brings jax[tpu] (default: tpu); the versions come
                  from constraints.txt, so jax and libtpu match what the tests ran with
  DRY_RUN         1: print the gcloud commands instead of running them

Anything after "--" is passed to the entry point, e.g.
  -- --config.model.hf_checkpoint=/mnt/models/Qwen2.5-1.5B --config.data.data_dir=/mnt/data
USAGE
}

die() { echo "error: $*" >&2; exit 2; }

# Prints (DRY_RUN=1) or runs a command.
run_cmd() {
  if [[ "${DRY_RUN:-0}" == "1" ]]; then
    printf '%q ' "$@"
    echo
  else
    "$@"
  fi
}

[[ $# -gt 0 ]] || { usage >&2; die "a command is required (create, setup, copy, run, ...)"; }
cmd="$1"
shift
case "$cmd" in
  -h|--help) usage; exit 0 ;;
  create|setup|copy|run|logs|stop|delete|ssh) ;;
  *) die "unknown command '$cmd' (see --help)" ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="${TPU_NAME:-}" zone="${TPU_ZONE:-}" project="${TPU_PROJECT:-}"
accelerator="${TPU_ACCELERATOR:-}" version="${TPU_RUNTIME_VERSION:-}"
spot=0 config="" sweep="" run_index="" workdir="" entry="experiments/grpo_main.py" git_repo=""
ref="" worker=0
detach=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) name="${2:?--name needs a value}"; shift 2 ;;
    --zone) zone="${2:?--zone needs a value}"; shift 2 ;;
    --project) project="${2:?--project needs a value}"; shift 2 ;;
    --accelerator) accelerator="${2:?--accelerator needs a value}"; shift 2 ;;
    --version) version="${2:?--version needs a value}"; shift 2 ;;
    --spot) spot=1; shift ;;
    --config) config="${2:?--config needs a value}"; shift 2 ;;
    --workdir) workdir="${2:?--workdir needs a value}"; shift 2 ;;
    --sweep) sweep="${2:?--sweep needs a value}"; shift 2 ;;
    --run-index) run_index="${2:?--run-index needs a value}"; shift 2 ;;
    --entry) entry="${2:?--entry needs a value}"; shift 2 ;;
    --repo) git_repo="${2:?--repo needs a value}"; shift 2 ;;
    --ref) ref="${2:?--ref needs a value}"; shift 2 ;;
    --worker) worker="${2:?--worker needs a value}"; shift 2 ;;
    --detach) detach=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
extra=("$@")

[[ -n "$name" ]] || die "--name (or TPU_NAME) is required"
[[ -n "$zone" ]] || die "--zone (or TPU_ZONE) is required"
[[ "$worker" =~ ^[0-9]+$ ]] || die "--worker must be a worker number, got '$worker'"
if [[ "$cmd" == create ]]; then
  [[ -n "$accelerator" ]] || die "--accelerator (or TPU_ACCELERATOR) is required for create"
  [[ -n "$version" ]] || die "--version (or TPU_RUNTIME_VERSION) is required for create"
fi
if [[ "$cmd" == run ]]; then
  [[ -n "$config" || -n "$sweep" ]] || die "--config (or --sweep) is required for run"
  [[ -z "$config" || -z "$sweep" ]] || die "--config and --sweep exclude each other"
  [[ -n "$workdir" ]] || die "--workdir is required for run"
  if [[ -n "$sweep" ]]; then
    [[ -f "$repo/${sweep%%:*}" ]] || die "sweep file '${sweep%%:*}' not found in $repo"
    [[ "$run_index" =~ ^[0-9]+$ ]] || die "--run-index (a number) is required with --sweep"
    entry="experiments/sweep_main.py"
  else
    [[ -f "$repo/${config%%:*}" ]] || die "config file '${config%%:*}' not found in $repo"
  fi
  [[ -f "$repo/$entry" ]] || die "entry point '$entry' not found in $repo"
fi
[[ -z "$ref" || -n "$git_repo" ]] || die "--ref needs --repo"

# Remote paths, quoted for the remote shell; relative ones are under the worker's home.
rpath() {
  if [[ "$1" == /* ]]; then printf '%q' "$1"; else printf "\$HOME/%q" "$1"; fi
}
q_dir="$(rpath "${REMOTE_DIR:-r1jax}")"
q_venv="$(rpath "${REMOTE_VENV:-r1jax-venv}")"
gflags=(--zone="$zone")
[[ -n "$project" ]] && gflags+=(--project="$project")

# Runs a shell command on workers ('all' or a number).
on_workers() {
  run_cmd gcloud compute tpus tpu-vm ssh "$name" "${gflags[@]}" --worker="$1" --command="$2"
}

copy_code() {
  if [[ -n "$git_repo" ]]; then
    local q_repo q_ref
    q_repo="$(printf '%q' "$git_repo")" q_ref="$(printf '%q' "${ref:-HEAD}")"
    on_workers all "rm -rf $q_dir && git clone -q $q_repo $q_dir && git -C $q_dir checkout -q $q_ref"
    return
  fi
  # Tracked files as they are in the working tree (uncommitted edits included).
  local tmp tarball
  tmp="$(mktemp -d)" && tarball="$tmp/r1jax-code.tar.gz"
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
    | xargs -0 tar czf "$tarball")
  run_cmd gcloud compute tpus tpu-vm scp "$tarball" "$name:r1jax-code.tar.gz" "${gflags[@]}" \
    --worker=all
  on_workers all "rm -rf $q_dir && mkdir -p $q_dir && tar xzf r1jax-code.tar.gz -C $q_dir"
  rm -rf "$tmp"
}

case "$cmd" in
  create)
    spot_flag=()
    [[ "$spot" == 1 ]] && spot_flag=(--spot)
    run_cmd gcloud compute tpus queued-resources create "$name" --node-id="$name" \
      "${gflags[@]}" --accelerator-type="$accelerator" --runtime-version="$version" \
      "${spot_flag[@]}"
    # Queued resources wait for capacity; poll until the VM exists (or the request fails).
    if [[ "${DRY_RUN:-0}" != "1" ]]; then
      while true; do
        state="$(gcloud compute tpus queued-resources describe "$name" "${gflags[@]}" \
          --format='value(state.state)')"
        echo "queued resource $name: $state"
        case "$state" in
          ACTIVE) break ;;
          FAILED|SUSPENDED) echo "error: queued resource $name is $state" >&2; exit 1 ;;
        esac
        sleep 30
      done
    fi
    ;;
  copy) copy_code ;;
  setup)
    on_workers all "test -f $q_dir/setup.py" 2>/dev/null || copy_code
    on_workers all "python3 -m venv $q_venv && $q_venv/bin/pip install -q --upgrade pip && \
$q_venv/bin/pip install -q -c $q_dir/constraints.txt -e \"${q_dir}[${JAX_TPU_EXTRA:-tpu}]\" && \
$q_venv/bin/python -c 'import jax, r1jax; print(\"jax\", jax.__version__)'"
    ;;
  run)
    flags=(--config="$config" --workdir="$workdir" --config.distributed.enabled=on "${extra[@]}")
    # A sweep run: the runner starts the run's main with the flags after "--".
    [[ -n "$sweep" ]] && flags=(--sweep="$sweep" --workdir="$workdir" --run_index="$run_index"
                                -- --config.distributed.enabled=on "${extra[@]}")
    line="cd $q_dir && $q_venv/bin/python"
    line="$line $(printf '%q' "$entry")$(printf ' %q' "${flags[@]}")"
    if [[ "$detach" == 1 ]]; then
      on_workers all "nohup bash -c $(printf '%q' "$line") > ~/r1jax-run.log 2>&1 < /dev/null &"
    else
      on_workers all "set -o pipefail; $line 2>&1 | tee ~/r1jax-run.log"
    fi
    ;;
  logs) on_workers "$worker" "tail -n 200 -F ~/r1jax-run.log" ;;
  stop) on_workers all "pkill -f $(printf '%q' "$entry") || true" ;;
  delete) run_cmd gcloud compute tpus queued-resources delete "$name" "${gflags[@]}" --force \
            --quiet ;;
  ssh) on_workers "$worker" "bash -l" ;;
esac
