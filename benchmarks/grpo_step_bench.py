"""One full GRPO step, split into sampling / rewards / log-probs / update, each with a roofline.

  .venv/bin/python benchmarks/grpo_step_bench.py                       # the tiny config, CPU
  .venv/bin/python benchmarks/grpo_step_bench.py --preset qwen2.5-0.5b --num_layers 2 \\
      --prompts 2 --group_size 4 --max_new_tokens 32 --repeats 2        # shrunk 0.5B, CPU
  .venv/bin/python benchmarks/grpo_step_bench.py --preset qwen2.5-0.5b --dtype bfloat16 \\
      --prompts 16 --group_size 8 --max_prompt_len 256 --max_new_tokens 1024 \\
      --grad_accum 32 --score_rows 8                                     # 0.5B, one GPU

The step is the RL trainer's (r1jax/train/rl_trainer.py), piece by piece, jitted the same way:
experiments/configs/arith_tiny.py with the flags below applied, its tokenizer, prompts from its
data pipeline and its rewards; the state donated to the update. `--preset` swaps in a real
model shape (random weights, the preset's vocabulary, sampling limited to the tokenizer's ids
as the trainer does); the prompts stay the arithmetic ones, left-padded to --max_prompt_len,
and preset rollouts ignore eos and stop strings so every row decodes exactly
--max_new_tokens tokens (a fixed amount of work, like benchmarks/sampler_bench.py).

Stages (the first step compiles everything and is reported apart; then the median of
--repeats steps on the same prompts and keys):
  sampling  the jitted Sampler (prefill + while-loop decode) and the device_get of tokens;
  rewards   decoding to text and grade_batch on the host;
  log-probs the old-policy pass and, with --kl_coef > 0, the reference pass (score_step);
  update    advantages and rl.num_iterations x num_minibatches optimizer steps.
Rooflines (per device; the batch is split over the data axes, weights are read whole):
  sampling  prefill max(FLOPs / peak, weight bytes / BW) + per decode step
            max(FLOPs / peak, (weight + KV-cache bytes) / BW), times the steps the loop ran;
  rewards   host work that needs no device: grading can run while the log-prob passes run
            (they do not need rewards), so its floor is max(0, rewards - log-probs); the
            overlapped row measures exactly that (dispatch the passes, grade, then block);
  log-probs max(passes x forward FLOPs / peak, passes x weight bytes / BW);
  update    train FLOPs / peak + optimizer traffic / BW, where each optimizer step reads and
            writes params and both AdamW moments and reads the gradient (7 x the parameter
            bytes on a device) and each microbatch adds its gradient to the accumulator (3x).
FLOPs are model FLOPs with causal attention (benchmarks/flops.py). Peaks: --peak_tflops and
--bandwidth_gbps, else data sheets for known GPUs/TPUs (bf16), else measured here; the header
says which. fraction = roofline / measured. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import pathlib
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import flops
from train_bench import parse_mesh
from r1jax import sharding
from r1jax.data import pipeline, sources
from r1jax.eval.evaluate import completions_text, example_keys
from r1jax.models import attention, presets
from r1jax.rewards import registry as rewards_registry
from r1jax.rl.algorithms import get_algorithm
from r1jax.sampling.sampler import Sampler
from r1jax.train import rl_phases
from r1jax.train import setup as setup_lib
from r1jax.train.state import create_state
from r1jax.models import params as params_lib

_CONFIG_FILE = pathlib.Path(__file__).resolve().parents[1] / "experiments/configs/arith_tiny.py"
STAGES = ("sampling", "rewards", "logprobs", "update")


def load_config(args):
  """arith_tiny's config with the command-line overrides applied and validated."""
  spec = importlib.util.spec_from_file_location("arith_tiny", _CONFIG_FILE)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config()
  for node, name, value in ((c, "prompts_per_step", args.prompts),
                            (c.sampler, "group_size", args.group_size),
                            (c.sampler, "max_new_tokens", args.max_new_tokens),
                            (c.data, "max_prompt_len", args.max_prompt_len),
                            (c.rl, "grad_accum", args.grad_accum),
                            (c.rl, "num_minibatches", args.num_minibatches)):
    if value:  # 0 keeps the config's value.
      setattr(node, name, value)
  c.rl.kl_coef = args.kl_coef
  c.eval.batch_size = c.prompts_per_step  # Nothing is evaluated: check only the step's rows.
  if args.preset:
    c.model.preset = args.preset
    # Keep the real vocabulary: the logits are a large share of a real model's work.
    c.model.overrides.vocab_size = presets.get(args.preset).vocab_size
  for field in ("dtype", "param_dtype", "attention_impl"):
    setattr(c.model.overrides, field, getattr(args, field))
  if args.num_layers:
    c.model.overrides.num_layers = args.num_layers
  for axis, size in parse_mesh(args.mesh).items():
    setattr(c.mesh, axis, size)
  setup_lib.validate_config(c)
  return c


class Step:
  """The trainer's jitted pieces for one config, and the state they update."""

  def __init__(self, config, score_rows: int, full_length: bool):
    c = self.config = config
    self.algo = get_algorithm(c.rl.algorithm)
    if self.algo.critic:
      raise ValueError(f"rl.algorithm {c.rl.algorithm!r} needs a value model; this benchmark "
                       "times critic-free algorithms (GRPO and kin)")
    self.tok = setup_lib.load_tokenizer(c)
    self.mesh = setup_lib.build_mesh(c)
    self.rules = setup_lib.build_rules(c)
    self.model_config, init_fn = setup_lib.build_model(c, self.tok, self.mesh, self.rules)
    setup_lib.validate_batching(c, self.mesh)
    self.G, self.T = c.sampler.group_size, c.sampler.max_new_tokens
    self.N = c.prompts_per_step * self.G
    self.score_rows = score_rows or self.N
    if self.N % self.score_rows:
      raise ValueError(f"--score_rows {score_rows} must divide the {self.N} rollouts")
    self.optimizer, _ = rl_phases.optimizers(c, self.algo)
    p_shard = params_lib.param_shardings(self.model_config, self.mesh, self.rules)
    self.state, state_shard = create_state(init_fn, self.optimizer, c.seed, self.mesh, p_shard)
    self.ref_params = jax.tree.map(jnp.copy, self.state.params)
    self.settings = rl_phases.rl_settings(c, self.algo)
    self.use_ref = self.settings.use_ref
    self.passes = int(self.settings.score_old) + int(self.use_ref)
    stop = setup_lib.stop_tokens(c, self.tok)
    sampler_cfg = setup_lib.sampler_config(c, self.tok, stop, self.model_config)
    if full_length:
      sampler_cfg = dataclasses.replace(sampler_cfg, eos_id=-1, stop_token_ids=(),
                                        stop_sequences=())
    self.sampler = Sampler(self.model_config, sampler_cfg, self.mesh, self.rules)
    self.specs = setup_lib.reward_specs(c)
    source = sources.get_source(c.data.source, c.data.data_dir or None, c.data.train_split,
                                c.data.template, **dict(c.data.knobs))
    self.batch = pipeline.RLPromptPipeline(source, c.prompts_per_step, self.tok,
                                           c.data.max_prompt_len, c.seed).next()
    self.examples = [e for e in self.batch.examples for _ in range(self.G)]
    self.keys = example_keys(c.seed, 1, self.batch.examples)

    # The trainer's own jitted steps (rl_phases), so the benchmark times the code a run runs.
    c.rl.score_chunks = self.N // self.score_rows
    self.fns = rl_phases.build_step_fns(c, self.algo, self.model_config, self.optimizer, None,
                                        self.mesh, state_shard)

  def ctx(self):
    return sharding.activation_sharding(self.mesh, self.rules)

  def sample(self):
    with self.ctx():
      out = self.sampler(self.state.params, self.batch.prompt_tokens_BxP,
                         self.batch.prompt_mask_BxP, self.keys)
      host = jax.device_get({"tokens": out.tokens_NxT, "lengths": out.lengths_N})
    return out, host

  def grade(self, host):
    texts = completions_text(self.tok, host["tokens"], host["lengths"])
    return rewards_registry.grade_batch(texts, self.examples, self.specs,
                                        timeout_s=self.config.reward_timeout_s,
                                        num_tokens=host["lengths"])

  def _roll(self, out):
    return rl_phases.Rollout(self.examples, self.batch.prompt_tokens_BxP,
                             self.batch.prompt_mask_BxP, out.tokens_NxT, out.mask_NxT,
                             out.forced_mask_NxT, out.stop_reason_N, {})

  def logprobs(self, out) -> rl_phases.Scored:
    """Dispatches the trainer's scoring passes (not blocked: the caller may grade meanwhile)."""
    with self.ctx():
      return rl_phases.score(self.fns, self.settings, self.state, self.ref_params,
                             self._roll(out))

  def update(self, out, graded, scored: rl_phases.Scored):
    c = self.config
    with self.ctx():
      mask = rl_phases.loss_mask(self._roll(out), c)
      zeros = jnp.zeros((self.N, self.T), jnp.float32)
      advantages, returns, mask, _ = self.fns.advantages(
          jnp.asarray(graded.total), mask, scored.old_logp_NxT, scored.ref_logp_NxT,
          scored.old_values_NxT, zeros, zeros)
      rollouts = scored.rollouts(mask, advantages, returns)
      self.state, metrics, _ = rl_phases.update(self.fns, self.state, rollouts, c, 0)
      jax.block_until_ready(self.state)
    return metrics

  def run(self) -> tuple[dict, float, np.ndarray]:
    """Times one step stage by stage, then the rewards overlapped with the log-prob passes."""
    t = {}
    start = time.perf_counter()
    out, host = self.sample()
    t["sampling"] = time.perf_counter() - start
    start = time.perf_counter()
    graded = self.grade(host)
    t["rewards"] = time.perf_counter() - start
    start = time.perf_counter()
    scored = jax.block_until_ready(self.logprobs(out))
    t["logprobs"] = time.perf_counter() - start
    start = time.perf_counter()
    metrics = self.update(out, graded, scored)
    t["update"] = time.perf_counter() - start
    if not np.isfinite(float(metrics["loss"])):
      raise FloatingPointError(f"non-finite RL loss {float(metrics['loss'])}")
    start = time.perf_counter()
    pending = self.logprobs(out)
    self.grade(host)
    jax.block_until_ready(pending)
    overlapped = time.perf_counter() - start
    return t, overlapped, host["lengths"]


def rooflines(step: Step, steps_run: int, peak: float, bw: float) -> dict:
  """Seconds per stage at the hardware limit, per device (see the module docstring)."""
  mc, c, n_dev = step.model_config, step.config, jax.device_count()
  leaves = jax.tree.leaves(step.state.params)
  weight_bytes = sum(x.nbytes for x in leaves)
  shard_bytes = sum(x.addressable_shards[0].data.nbytes for x in leaves)
  B, P = step.batch.prompt_tokens_BxP.shape
  S, L = P - 1 + step.T, P + step.T
  prefill = max(flops.prefill_flops(mc, B, P - 1) / n_dev / peak, weight_bytes / bw)
  decode = max(flops.decode_step_flops(mc, step.N, S + 1) / n_dev / peak,
               flops.decode_step_bytes(mc, step.N // n_dev, S, weight_bytes) / bw)
  passes = step.passes
  logprobs = max(passes * flops.forward_flops(mc, step.N, L) / n_dev / peak,
                 passes * weight_bytes / bw)
  opt_steps = c.rl.num_iterations * c.rl.num_minibatches
  update = (c.rl.num_iterations * flops.train_flops(mc, step.N, L) / n_dev / peak
            + opt_steps * (7 + 3 * c.rl.grad_accum) * shard_bytes / bw)
  return {"sampling": prefill + steps_run * decode, "logprobs": logprobs, "update": update}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--preset", default="", help="a real model shape (default: the config's)")
  parser.add_argument("--num_layers", type=int, default=0, help="override the depth (0 keeps)")
  parser.add_argument("--dtype", default="float32", help="compute dtype (float32, bfloat16)")
  parser.add_argument("--param_dtype", default="float32", help="parameter/optimizer dtype")
  parser.add_argument("--attention_impl", default="auto", help="auto, dense, xla or cudnn")
  parser.add_argument("--prompts", type=int, default=0, help="prompts per step (0: config)")
  parser.add_argument("--group_size", type=int, default=0, help="samples per prompt")
  parser.add_argument("--max_new_tokens", type=int, default=0, help="completion budget")
  parser.add_argument("--max_prompt_len", type=int, default=0, help="prompt length P")
  parser.add_argument("--grad_accum", type=int, default=0, help="microbatches per opt step")
  parser.add_argument("--num_minibatches", type=int, default=0, help="opt steps per pass")
  parser.add_argument("--score_rows", type=int, default=0,
                      help="rows per log-prob call (0: all rows at once, as the trainer)")
  parser.add_argument("--kl_coef", type=float, default=0.04,
                      help="> 0 adds the reference pass (the config itself uses 0)")
  parser.add_argument("--mesh", default="data=-1", help="mesh axes, e.g. fsdp=8 (data fills)")
  parser.add_argument("--repeats", type=int, default=3, help="timed steps (median reported)")
  parser.add_argument("--peak_tflops", type=float, default=0.0)
  parser.add_argument("--bandwidth_gbps", type=float, default=0.0)
  args = parser.parse_args()
  if args.repeats < 1:
    parser.error("--repeats must be >= 1")

  config = load_config(args)
  peak, peak_src = flops.peak_flops(args.dtype, args.peak_tflops)
  bw, bw_src = flops.peak_bandwidth(args.bandwidth_gbps)
  step = Step(config, args.score_rows, full_length=bool(args.preset))

  first, _, _ = step.run()
  runs = [step.run() for _ in range(args.repeats)]
  med = {s: statistics.median(r[0][s] for r in runs) for s in STAGES}
  overlapped = statistics.median(r[1] for r in runs)
  lengths = np.concatenate([r[2] for r in runs])
  steps_run = int(statistics.median(int(np.max(r[2])) for r in runs))
  roof = rooflines(step, steps_run, peak, bw)
  roof["rewards"] = max(0.0, med["rewards"] - med["logprobs"])
  total = sum(med.values())

  mc, c = step.model_config, step.config
  print(flops.run_header())
  print(f"model {c.model.preset} ({mc.num_params / 1e6:.2f}M params, L={mc.num_layers}, "
        f"V={mc.vocab_size}, {mc.dtype} compute / {mc.param_dtype} params, attention "
        f"{attention.resolve_impl(mc.attention_impl, mc.dtype, mc.head_dim)}); "
        f"{c.prompts_per_step} prompts x {step.G} = {step.N} rollouts, prompt "
        f"{step.batch.prompt_tokens_BxP.shape[1]}, budget {step.T}, mean length "
        f"{lengths.mean():.1f}, decode steps {steps_run}; log-prob passes "
        f"{step.passes}; {c.rl.num_iterations}x{c.rl.num_minibatches} optimizer "
        f"steps of {c.rl.grad_accum} microbatch(es); rewards "
        f"{ {spec.name: spec.weight for spec in step.specs} }")
  print(f"peaks per device: {peak / 1e12:.4g} TFLOP/s ({peak_src}), {bw / 1e9:.4g} GB/s "
        f"({bw_src})\n")
  print("| stage | first step s (compile) | median s | share | roofline s | fraction |")
  print("|---|---|---|---|---|---|")
  for s in STAGES:
    # The rewards floor is what overlap could leave exposed, not a rate: no fraction.
    frac = "n/a" if s == "rewards" or med[s] <= 0 else f"{roof[s] / med[s]:.1%}"
    print(f"| {s} | {first[s]:.3f} | {med[s]:.4f} | {med[s] / total:.1%} | {roof[s]:.4f} | "
          f"{frac} |")
  exposed = max(0.0, overlapped - med["logprobs"])
  print(f"| step (serial sum) | {sum(first.values()):.3f} | {total:.4f} | 100% | "
        f"{sum(roof.values()):.4f} | {sum(roof.values()) / total:.1%} |")
  print(f"\nrewards overlapped with the log-prob passes: {overlapped:.4f} s for both, so "
        f"{exposed:.4f} s of grading stays exposed (serial: {med['rewards']:.4f} s; floor "
        f"{roof['rewards']:.4f} s). Completion tokens/s over the serial step: "
        f"{float(lengths.sum()) / len(runs) / total:,.0f}")


if __name__ == "__main__":
  main()
