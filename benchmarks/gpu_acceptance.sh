#!/usr/bin/env bash
# The GPU acceptance runs of BENCHMARKS.md, each time-boxed, every log kept in one folder.
#
#   bash benchmarks/gpu_acceptance.sh RESULTS_DIR [PART...]
#
# PART is any of: env checks decode train grpo (default: all, in that order). Each part's
# output goes to RESULTS_DIR/<part>.log and its status to RESULTS_DIR/status.txt; a part that
# fails or runs out of time is recorded and the next one still runs. PYTHON picks the
# interpreter (default python3); the repository root must be importable (installed, or this
# script puts it on PYTHONPATH). Limits per part come from the environment (CHECKS_S, ...),
# so a short session on a GPU can run the parts that matter first.
set -u
out=${1:?usage: gpu_acceptance.sh RESULTS_DIR [env checks decode train grpo]}
shift
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(env checks decode train grpo)
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$out"
cd "$root" || exit 1

run_part() {  # name, seconds, command...
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  echo "== $name: $*" | tee "$out/$name.log"
  timeout "$limit" "$@" >> "$out/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc $((SECONDS - t0))s (limit ${limit}s)" | tee -a "$out/status.txt"
}

for part in "${parts[@]}"; do
  case $part in
    env)
      run_part env 60 bash -c "nvidia-smi; date -u; $py -c 'import jax, flax, optax, orbax.checkpoint as o; print(jax.__version__, flax.__version__, optax.__version__, o.__version__); print(jax.devices())'" ;;
    checks)  # Attention kernels and the cached sampler against float32 references.
      run_part checks "${CHECKS_S:-300}" "$py" benchmarks/gpu_checks.py --json "$out/checks.json" ;;
    decode)  # Rollout tokens/s and the HBM roofline at batch 64.
      run_part decode "${DECODE_S:-150}" "$py" benchmarks/sampler_bench.py --preset qwen2.5-0.5b \
        --dtype bfloat16 --batch_sizes 64,1 --gen_lens 256,1024 --prompt_len 128 --repeats 2 ;;
    train)  # Train-step MFU at sequence 2048: the 1.5B target, remat and kernel choices.
      run_part train "${TRAIN_S:-200}" bash -c "
        $py benchmarks/train_bench.py --preset qwen2.5-1.5b --dtype bfloat16 --seq_len 2048 \
          --batch 4 --remat dots_no_batch,full --attention_impl cudnn --warmup 1 --steps 3;
        $py benchmarks/train_bench.py --preset qwen2.5-1.5b,qwen2.5-0.5b --dtype bfloat16 \
          --seq_len 2048 --batch 4 --remat dots_no_batch --attention_impl xla --warmup 1 --steps 3;
        $py benchmarks/train_bench.py --preset qwen2.5-1.5b --dtype bfloat16 --seq_len 2048 \
          --batch 4 --remat dots_no_batch --attention_impl cudnn --segments ones --warmup 1 --steps 3" ;;
    grpo)  # One GRPO step at the 0.5B shape, phase by phase (three steps: the first compiles).
      run_part grpo "${GRPO_S:-170}" "$py" benchmarks/grpo_step_bench.py --preset qwen2.5-0.5b \
        --dtype bfloat16 --prompts 16 --group_size 8 --max_prompt_len 256 --max_new_tokens 1024 \
        --grad_accum 32 --score_rows 8 --repeats 2 ;;
    *) echo "unknown part $part (env checks decode train grpo)"; exit 2 ;;
  esac
done
