"""Every finding's experiment (experiments/findings/, the commands of FINDINGS.md) runs, tiny,
through experiments/sweep_main.py: seed 0 of each smoke grid, chained as FINDINGS.md chains
the full runs. Real runs in subprocesses, about a minute each on 2 cores."""
import json
import os
import pathlib
import subprocess
import sys

import pytest
import xla_env

from r1jax import results
from r1jax.sweep import spec as sweep_spec

REPO = pathlib.Path(__file__).resolve().parents[1]
FINDINGS = REPO / "experiments" / "findings"
SWEEPS = REPO / "experiments" / "sweeps"
# The findings files this module runs (a new file must get a test here).
TESTED = {"clean_teacher", "distillation", "expert_iteration", "length_penalty", "sft_set_size",
          "test_time_scaling", "thought_switching"}


def _sweep_main(sweep, workdir, *run_indices):
  cmd = [sys.executable, str(REPO / "experiments" / "sweep_main.py"), f"--sweep={sweep}",
         f"--workdir={workdir}", *[f"--run_index={i}" for i in run_indices]]
  # One CPU device, as a laptop run of these commands (as experiments_mains_test.py): the mesh
  # paths are tested in-process and in distributed_test.py, and 8 virtual devices on 2 cores
  # only slow these runs down (this file: 108 CPU-s with 8, 90 with 1).
  proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=1200,
                        env=dict(os.environ, PYTHONUNBUFFERED="1", **xla_env.env(1)))
  assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


def _rows(run_dir):
  return [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_every_findings_file_has_a_smoke_test():
  assert {p.stem for p in FINDINGS.glob("*.py")} == TESTED


def test_expert_iteration_starts_from_the_rl_runs_warm_start(tmp_path):
  start, ei = tmp_path / "start", tmp_path / "ei"
  _sweep_main(f"{FINDINGS / 'expert_iteration.py'}:smoke", start, 0)
  _sweep_main(f"{FINDINGS / 'expert_iteration.py'}:smoke:{start}", ei, 0)
  run = ei / "method-expert_iteration.seed-0"
  assert results.is_finished(run) and results.read(run)["kind"] == "expert_iteration"
  # Round 0 of expert iteration is the published warm start: its evaluation is the starting
  # run's step-0 evaluation, number for number.
  first = results.read(start / "start-warm.seed-0")["history"][0]
  round0 = json.loads((run / "round_0" / "eval.json").read_text())
  assert {k: first[k] for k in round0 if k.startswith("eval/")} == \
      {k: v for k, v in round0.items() if k.startswith("eval/")}
  assert (run / "round_2" / "model").is_dir()


def test_length_penalty_pays_the_cosine_reward_on_the_rechecking_task(tmp_path):
  _sweep_main(f"{FINDINGS / 'length_penalty.py'}:smoke", tmp_path, 1)
  run = tmp_path / "penalty-cosine.seed-0"
  assert results.is_finished(run)
  config = json.loads((run / "config.json").read_text())
  assert config["data"]["knobs"]["recheck_rate"] == 0.5 and config["rewards"]["cosine_length"]
  paid = [r["reward/cosine_length"] for r in _rows(run) if "reward/cosine_length" in r]
  assert len(paid) == 2 and all(-1.0 <= v <= 1.0 and v != 0.0 for v in paid)


@pytest.fixture(scope="module")
def svd_models(tmp_path_factory):
  """A sparse_vs_dense smoke sweep's first run (reward-outcome.seed-0): the models that the
  test-time and distillation findings start from."""
  models = tmp_path_factory.mktemp("svd")
  _sweep_main(f"{SWEEPS / 'sparse_vs_dense.py'}:smoke", models, 0)
  return models


def test_test_time_scaling_evaluates_a_sweeps_models(svd_models, tmp_path):
  _sweep_main(f"{FINDINGS / 'test_time_scaling.py'}:smoke:{svd_models}", tmp_path, 0, 1)
  for mode in ("cap", "force"):
    final = results.read(tmp_path / f"budget-{mode}.seed-0")["final"]
    for key in ("greedy/pass@1", "sampled/maj@2", "sampled/pass@2"):
      assert 0.0 <= final[f"eval/arith/test/{key}"] <= 1.0


def test_distillation_chain(svd_models, tmp_path):
  spec = FINDINGS / "distillation.py"
  rs, sft = tmp_path / "rs", tmp_path / "sft"
  _sweep_main(f"{spec}:smoke:teacher:{svd_models}", rs, 0)
  rows = (rs / "teacher-traces.seed-0" / "data.jsonl").read_text().splitlines()
  assert rows
  _sweep_main(f"{spec}:smoke:student:{rs}", sft, 0)
  distilled = json.loads((sft / "student-distilled.seed-0" / "config.json").read_text())
  assert distilled["model"]["preset"] == "tiny"
  assert 0.0 <= results.read(sft / "student-distilled.seed-0")["final"]["eval/pass@1"] <= 1.0
  # The RL student is the demo's run with the tiny preset: its overrides are checked against
  # the config here (the smoke sweeps of experiments/sweeps/ run that main end to end).
  (run,) = [r for r in sweep_spec.expand(sweep_spec.load(f"{spec}:smoke:rl")[0]) if r.seed == 0]
  assert run.overrides["model.preset"] == "tiny" and run.overrides["total_steps"] == 2


def test_sft_set_size_trains_on_the_curated_sets(tmp_path):
  sets = tmp_path / "sets"
  proc = subprocess.run([sys.executable, "-m", "r1jax.recipe.curate",
                         f"--config={REPO / 'experiments' / 'configs' / 'arith_tiny.py'}",
                         f"--out={sets}", "--sizes=16", "--seeds=0,1", "--pool=400"],
                        capture_output=True, text=True, cwd=REPO, timeout=600)
  assert proc.returncode == 0, proc.stderr[-4000:]
  spec = f"{FINDINGS / 'sft_set_size.py'}:smoke:{sets}"
  names = [r.name for r in sweep_spec.expand(sweep_spec.load(spec)[0])]
  assert names[:3] == ["set-random_16.seed-0", "set-verified_16.seed-0",
                       "set-curated_16.seed-0"] and len(names) == 6
  _sweep_main(spec, tmp_path / "sft", 2)
  run = tmp_path / "sft" / "set-curated_16.seed-0"
  config = json.loads((run / "config.json").read_text())
  assert config["sft"]["train_file"] == str(sets / "curated-16.seed-0.jsonl")
  assert 0.0 <= results.read(run)["final"]["eval/pass@1"] <= 1.0


def test_clean_teacher_grid_runs_without_the_sloppy_teacher(tmp_path):
  spec = f"{FINDINGS / 'clean_teacher.py'}:smoke:grid"
  runs = sweep_spec.expand(sweep_spec.load(spec)[0])
  assert len(runs) == 8 and {r.seed for r in runs} == {0}
  run = next(r for r in runs if r.point == "lr-3e-5_temp-0.7_kl-0.04")
  _sweep_main(spec, tmp_path, runs.index(run))
  config = json.loads((tmp_path / run.name / "config.json").read_text())
  assert config["data"]["knobs"]["truncate_rate"] == 0.0
  assert (config["optim"]["lr"], config["sampler"]["temperature"],
          config["rl"]["kl_coef"]) == (3e-5, 0.7, 0.04)
  rows = _rows(tmp_path / run.name)
  assert any(r.get("train/kl_loss", 0.0) > 0.0 for r in rows), \
      "KL to the warm start never entered the loss"
  assert 0.0 <= results.read(tmp_path / run.name)["final"]["eval/pass@1"] <= 1.0
  # The 2-point sweep: the demo's settings and the lr chosen on the grid, both clean.
  main = {r.point: r for r in sweep_spec.expand(
      sweep_spec.load(f"{FINDINGS / 'clean_teacher.py'}:smoke")[0]) if r.seed == 0}
  assert set(main) == {"teacher-clean", "teacher-clean_lr3e-5"}
  assert all(r.overrides["data.knobs.truncate_rate"] == 0.0 for r in main.values())
  assert "optim.lr" not in main["teacher-clean"].overrides
  assert main["teacher-clean_lr3e-5"].overrides["optim.lr"] == 3e-5


def test_thought_switching_counts_switches_with_tip_off_and_on(tmp_path):
  spec = FINDINGS / "thought_switching.py"
  start, tip = tmp_path / "start", tmp_path / "tip"
  _sweep_main(f"{spec}:smoke", start, 0)
  config = json.loads((start / "start-switching.seed-0" / "config.json").read_text())
  assert config["data"]["knobs"]["switch_rate"] == 0.7 and config["total_steps"] == 0
  assert (start / "start-switching.seed-0" / "model").is_dir()
  _sweep_main(f"{spec}:smoke:{start}", tip, 1)  # alpha-3, seed 0.
  final = results.read(tip / "alpha-3.seed-0")["final"]
  for key in ("greedy/switches", "tip/switches", "sampled/switches", "tip/sampled/switches"):
    assert final[f"eval/arith/test/{key}"] >= 0.0, key
  for key in ("greedy/pass@1", "tip/pass@1", "sampled/pass@1", "tip/sampled/pass@1"):
    assert 0.0 <= final[f"eval/arith/test/{key}"] <= 1.0, key
