#!/usr/bin/env bash
# Runs an r1jax experiment on one GPU host: creates a CUDA virtual environment (once), then
# runs the entry point with the given config. Multi-host launchers come with the
# distributed-runtime work; this script uses every local GPU through the config's mesh.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: launch/gpu_single_host.sh --config FILE[:ARG] --workdir DIR [-- extra flags]

Options:
  --config FILE[:ARG]   experiment config, e.g. experiments/configs/qwen25_gsm8k.py:0.5b
  --workdir DIR         checkpoints, metrics and plots (an existing checkpoint is resumed)
  --entry FILE          entry point (default: the repository's experiments/grpo_main.py)
  -h, --help            this help

Environment variables:
  VENV          virtual environment to create/use (default: <repo>/.venv-gpu)
  PYTHON        interpreter that creates it (default: python3)
  JAX_EXTRA     pip extra that brings the CUDA plugin (default: gpu, i.e. jax[cuda12])
  XLA_PYTHON_CLIENT_MEM_FRACTION  share of GPU memory JAX preallocates (default: 0.9)

Anything after "--" is passed to the entry point, e.g.
  -- --config.model.hf_checkpoint=/models/Qwen2.5-0.5B --config.data.data_dir=/data
USAGE
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="" workdir="" entry="$repo/experiments/grpo_main.py"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --config) config="${2:?--config needs a value}"; shift 2 ;;
    --workdir) workdir="${2:?--workdir needs a value}"; shift 2 ;;
    --entry) entry="${2:?--entry needs a value}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n "$config" ]] || { echo "error: --config is required (see --help)" >&2; exit 2; }
[[ -n "$workdir" ]] || { echo "error: --workdir is required (see --help)" >&2; exit 2; }
[[ -f "${config%%:*}" ]] || { echo "error: config file '${config%%:*}' not found" >&2; exit 2; }
[[ -f "$entry" ]] || { echo "error: entry point '$entry' not found" >&2; exit 2; }

# Paths stay relative to the caller's directory; only the install uses the repository root.
venv="${VENV:-$repo/.venv-gpu}"
if [[ ! -x "$venv/bin/python" ]]; then
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -c "$repo/constraints.txt" -e "${repo}[${JAX_EXTRA:-gpu}]"
fi
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
else
  echo "warning: nvidia-smi not found; JAX will fall back to CPU if no GPU is visible" >&2
fi
export XLA_PYTHON_CLIENT_MEM_FRACTION="${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9}"
exec "$venv/bin/python" "$entry" --config="$config" --workdir="$workdir" "$@"
