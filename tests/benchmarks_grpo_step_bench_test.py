"""benchmarks/grpo_step_bench.py times the trainer's own step: one benchmark step and the RL
trainer's first step, from the same config, seed and prompts, give the same update metrics."""
import argparse
import json
import pathlib
import sys

import numpy as np

from r1jax.train import rl_trainer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import grpo_step_bench  # noqa: E402  pylint: disable=g-import-not-at-top

# Among the update's metrics (all compared): these depend on the rollouts, their rewards, the
# advantages and the step, so they must be there.
COMPARED = ("loss", "pg_loss", "kl", "grad_norm", "entropy", "adv_std", "num_tokens")


def _config():
  args = argparse.Namespace(prompts=8, group_size=4, max_new_tokens=16, max_prompt_len=0,
                            grad_accum=0, num_minibatches=0, kl_coef=0.04, preset="",
                            dtype="float32", param_dtype="float32", attention_impl="auto",
                            num_layers=0, mesh="data=-1")
  c = grpo_step_bench.load_config(args)
  c.warm_start.sft_steps = 0  # The benchmark steps from the initial params.
  c.total_steps = 1
  c.eval.update(num_problems=8, k=0, batch_size=8)
  c.checkpoint.async_save = False
  return c


def test_benchmark_step_equals_the_trainers_first_step(tmp_path):
  step = grpo_step_bench.Step(_config(), score_rows=0, full_length=False)
  out, host = step.sample()
  graded = step.grade(host)
  scored = step.logprobs(out)
  bench = {k: float(v) for k, v in step.update(out, graded, scored).items()
           if np.ndim(v) == 0}

  rl_trainer.train_and_evaluate(_config(), str(tmp_path))
  rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  trainer = next(r for r in rows if r.get("step") == 1 and "loss" in r)

  # The trainer logs the update's metrics as train/<name> (loss and kl also bare).
  logged = {k: trainer[f"train/{k}"] if f"train/{k}" in trainer else trainer.get(k)
            for k in bench}
  assert set(COMPARED) <= {k for k, v in logged.items() if v is not None}, sorted(trainer)
  for k, v in bench.items():
    if logged[k] is not None:
      np.testing.assert_allclose(v, logged[k], rtol=1e-5, atol=1e-7, err_msg=k)
  # The same rollouts were graded the same way.
  np.testing.assert_allclose(graded.total.mean(), trainer["reward/total"], rtol=1e-6)
