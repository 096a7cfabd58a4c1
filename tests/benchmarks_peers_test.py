"""benchmarks/peers: r1jax's side builds the shared workload (the peers themselves live in their
own environment and are not installed here; their side is run by `make bench-peers`)."""
import pathlib
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "peers"))
import r1jax_side  # noqa: E402  pylint: disable=g-import-not-at-top
import workload  # noqa: E402  pylint: disable=g-import-not-at-top


def test_prompts_are_exactly_the_workloads_length():
  texts = workload.prompt_texts(40)
  assert len(set(texts)) > workload.SHAPES["anchor"]["prompts"]
  assert {len(t) for t in texts} == {workload.PROMPT_LEN}


def test_r1jax_side_samples_the_workload_and_steps():
  """The anchor shape as configured for the benchmark: the model has the workload's shape, every
  row decodes exactly its new_tokens, the prompts are PROMPT_LEN long, and a step's update
  is finite and moves the parameters."""
  step = r1jax_side.build_step("anchor")
  mc, s = step.model_config, workload.SHAPES["anchor"]
  assert (mc.d_model, mc.num_layers, mc.num_heads, mc.num_kv_heads, mc.mlp_dim,
          mc.vocab_size) == (s["d_model"], s["num_layers"], s["num_heads"], s["num_kv_heads"],
                             s["mlp_dim"], s["vocab_size"])
  assert step.batch.prompt_tokens_BxP.shape == (s["prompts"], workload.PROMPT_LEN)
  assert step.passes == 1  # One optimizer step per batch: the reference pass alone.
  out, host = step.sample()
  assert host["tokens"].shape == (workload.rows("anchor"), s["new_tokens"])
  assert np.all(host["lengths"] == s["new_tokens"])
  before = np.asarray(step.state.params["lm_head"]["kernel"]).copy()
  metrics = step.update(out, step.grade(host), step.logprobs(out))
  assert np.isfinite(float(metrics["loss"]))
  assert not np.allclose(np.asarray(step.state.params["lm_head"]["kernel"]), before)


def test_the_runner_refuses_a_missing_peers_environment(tmp_path):
  proc = subprocess.run([sys.executable, str(ROOT / "benchmarks/peers/run.py"),
                         "--peers_python", str(tmp_path / "nope")],
                        capture_output=True, text=True, timeout=120, check=False)
  assert proc.returncode == 2 and "make peers" in proc.stderr
