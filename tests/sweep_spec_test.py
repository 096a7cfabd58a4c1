"""Sweep files -> runs: naming, products and zips, and bad sweeps failing before any run."""
import pathlib
import subprocess
import sys

import pytest

from r1jax.sweep import runner, spec, toy

REPO = pathlib.Path(__file__).resolve().parents[1]
SWEEPS = sorted((REPO / "experiments" / "sweeps").glob("*.py"))


def _sweep(**kw):
  kw.setdefault("config", "tests/configs/tiny_resume.py")
  kw.setdefault("axes", spec.axis("kl", {"0": {"rl.kl_coef": 0.0}, "1": {"rl.kl_coef": 0.01}}))
  kw.setdefault("seeds", (0, 1))
  return spec.Sweep(**kw)


def test_product_and_zip_name_points_and_merge_overrides():
  a = spec.axis("a", {"x": {"f": 1}, "y": {"f": 2}})
  b = spec.axis("b", {"p": {"g": 3}, "q": {"g": 4}})
  grid = spec.product(a, b)
  assert [p.name for p in grid] == ["a-x_b-p", "a-x_b-q", "a-y_b-p", "a-y_b-q"]
  assert grid[1].overrides == {"f": 1, "g": 4}
  zipped = spec.zip_axes(a, b)
  assert [p.name for p in zipped] == ["a-x_b-p", "a-y_b-q"]
  with pytest.raises(spec.SweepError, match="equal length"):
    spec.zip_axes(a, spec.axis("c", {"only": {}}))
  with pytest.raises(spec.SweepError, match="'f' to different values"):
    spec.product(a, spec.axis("c", {"z": {"f": 9}}))


def test_expand_applies_base_point_then_seed_overrides():
  runs = spec.expand(_sweep(overrides={"total_steps": 3}))
  assert [r.name for r in runs] == ["kl-0.seed-0", "kl-1.seed-0", "kl-0.seed-1", "kl-1.seed-1"]
  assert runs[3].overrides == {"total_steps": 3, "rl.kl_coef": 0.01, "seed": 1}


def test_seed_in_a_string_override_names_a_per_seed_input():
  runs = spec.expand(_sweep(overrides={"model.init_checkpoint": "/runs/outcome.seed-{seed}"}))
  assert [r.overrides["model.init_checkpoint"] for r in runs] == [
      "/runs/outcome.seed-0", "/runs/outcome.seed-0", "/runs/outcome.seed-1",
      "/runs/outcome.seed-1"]


@pytest.mark.parametrize("kw,match", [
    (dict(overrides={"rl.kl_coeff": 0.1}), "no field 'rl.kl_coeff'"),
    (dict(axes=spec.axis("x", {"a": {"optim.nope.lr": 1.0}})), "no field 'optim.nope.lr'"),
    (dict(axes=spec.axis("x", {"a": {"sampler": 1}})), "'sampler' is a group of fields"),
    (dict(axes=spec.axis("x", {"a": {"total_steps": "many"}})), "'total_steps'"),
    (dict(seeds=()), "sweep.seeds"),
    (dict(baseline="kl-7"), "sweep.baseline"),
    (dict(main="nope"), "sweep.main"),
    (dict(axes=spec.axis("x", {"a": {"rl.algorithm": "grpo2"}})), "config.rl.algorithm"),
])
def test_bad_sweeps_fail_before_any_run_naming_the_field(kw, match, tmp_path):
  with pytest.raises(spec.SweepError, match=match):
    runner.run_sweep(_sweep(**kw), "bad", tmp_path / "sweep")
  assert not (tmp_path / "sweep").exists()  # Nothing started, nothing written.


def test_bad_sweep_from_the_command_line_exits_2_naming_the_field(tmp_path):
  bad = tmp_path / "bad.py"
  bad.write_text("from r1jax.sweep.spec import Sweep, axis\n"
                 "def get_sweep(arg=None):\n"
                 "  return Sweep(config='tests/configs/tiny_resume.py',\n"
                 "               axes=axis('g', {'4': {'sampler.group_sise': 4}}), seeds=(0,))\n")
  out = subprocess.run([sys.executable, str(REPO / "experiments" / "sweep_main.py"),
                        f"--sweep={bad}", f"--workdir={tmp_path / 'w'}"],
                       capture_output=True, text=True, cwd=REPO)
  assert out.returncode == 2 and "sampler.group_sise" in out.stderr, out.stderr[-2000:]
  assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
@pytest.mark.parametrize("variant", ["", ":smoke"])
def test_committed_sweeps_expand(path, variant):
  sweep, _ = spec.load(f"{path}{variant}")
  runs = spec.expand(sweep)
  assert len({r.seed for r in runs}) >= 2 and sweep.baseline
  if variant:  # The smoke grid is the full grid, shrunk.
    full = spec.expand(spec.load(str(path))[0])
    assert {r.point for r in runs} == {r.point for r in full}


def test_dry_run_prints_each_command_and_writes_nothing(tmp_path):
  lines = []
  runner.run_sweep(_sweep(), "dry", tmp_path / "w", dry_run=True, log=lines.append)
  assert len(lines) == 4 and not (tmp_path / "w").exists()
  assert "--config.rl.kl_coef=0.01" in lines[3] and "--config.seed=1" in lines[3]
  assert f"--workdir={tmp_path / 'w' / 'kl-1.seed-1'}" in lines[3]



def test_unknown_variant_is_a_sweep_error():
  with pytest.raises(spec.SweepError, match="kl.py: get_sweep\\('tiny'\\).*unknown sweep variant"):
    spec.load(str(REPO / "experiments" / "sweeps" / "kl.py") + ":tiny")


def test_test_time_finding_evaluates_each_seeds_model(tmp_path):
  path = REPO / "experiments" / "findings" / "test_time_scaling.py"
  with pytest.raises(spec.SweepError, match="sparse_vs_dense sweep's workdir"):
    spec.load(str(path))
  runs = spec.expand(spec.load(f"{path}:{tmp_path}")[0])
  assert [r.name for r in runs][:2] == ["budget-cap.seed-0", "budget-force.seed-0"]
  assert {r.overrides["model.init_checkpoint"] for r in runs if r.seed == 2} == {
      f"{tmp_path}/reward-outcome.seed-2"}


def test_split_smoke_reads_a_findings_files_argument():
  assert toy.split_smoke(None) == toy.split_smoke("") == (False, "")
  assert toy.split_smoke("smoke") == (True, "")
  assert toy.split_smoke("smoke:grid") == (True, "grid")
  assert toy.split_smoke("smoke:teacher:/a/b") == (True, "teacher:/a/b")
  assert toy.split_smoke("/runs/smoke:1") == (False, "/runs/smoke:1")
  assert toy.split_smoke("smokey") == (False, "smokey")


def test_sweep_names_keep_the_last_part_of_a_path_variant():
  assert spec.short_arg("smoke") == "smoke"
  assert spec.short_arg("smoke:/tmp/runs/svd") == "smoke:svd"
  assert spec.short_arg("student:/a/b/d_rs/") == "student:d_rs"
  assert spec.short_arg("teacher:runs/svd") == "teacher:svd"
