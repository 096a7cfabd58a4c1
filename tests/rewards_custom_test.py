"""Rewards named by import path: in-process and pool agree; a reward failing everywhere stops."""
import json
import pathlib

import numpy as np
import pytest

import rl_harness

from r1jax.rewards import custom, registry
from r1jax.rewards.pool import RewardPool
from r1jax.train import rl_trainer, setup

REPO = pathlib.Path(__file__).resolve().parents[1]
DIGITS = "custom_reward_fns:digit_share"
RAISES = "custom_reward_fns:always_raises"


def _config(**custom_weights):
  c = rl_harness.tiny_config(**{"sampler.max_new_tokens": 8})
  c.rewards.custom = dict(custom_weights)
  return c


def test_resolve_errors_name_the_path():
  with pytest.raises(ValueError, match="'nope_pkg_x:f'.*cannot import"):
    custom.resolve("nope_pkg_x:f")
  with pytest.raises(ValueError, match="has no attribute 'missing'"):
    custom.resolve("custom_reward_fns:missing")
  with pytest.raises(ValueError, match="expected 'package.module:function'"):
    custom.resolve("custom_reward_fns:digit share")


def test_config_errors_name_the_field():
  with pytest.raises(setup.ConfigError, match=r"config.rewards.custom\['nope_pkg_x:f'\]"):
    setup.validate_config(_config(**{"nope_pkg_x:f": 1.0}))
  c = _config()
  c.rewards.custom = {"digit_share": 1.0}
  with pytest.raises(setup.ConfigError, match="config.rewards.custom: key 'digit_share'"):
    setup.validate_config(c)


def test_in_process_and_pool_grade_identically():
  completions = ["12 and 3", "<answer>7</answer>", "", "x" * 50] * 3
  examples = [{"answer": a} for a in ("12", "7", "1", "3")] * 3
  specs = [registry.RewardSpec(DIGITS, 0.5), registry.RewardSpec("format_tags", 1.0),
           registry.RewardSpec("custom_reward_fns:tokens_and_steps", 2.0)]
  tokens = list(range(len(completions)))
  here = registry.grade_batch(completions, examples, specs, num_tokens=tokens)
  with RewardPool(2) as pool:
    there = registry.grade_batch(completions, examples, specs, pool=pool, num_tokens=tokens)
  np.testing.assert_array_equal(here.total, there.total)
  for name in here.per_reward:
    np.testing.assert_array_equal(here.per_reward[name], there.per_reward[name])
  assert here.steps == there.steps and here.failures == there.failures == {
      DIGITS: 0, "format_tags": 0, "custom_reward_fns:tokens_and_steps": 0}
  assert here.per_reward[DIGITS][0] == pytest.approx(2 / 8)  # "1", "2" of 8
  assert here.steps[3] == [(50, 1.0)]


@pytest.mark.parametrize("workers", [0, 2])
def test_reward_failing_on_every_completion_raises_naming_it(workers):
  specs = [registry.RewardSpec("format_tags", 1.0), registry.RewardSpec(RAISES, 1.0)]
  pool = RewardPool(workers) if workers else None
  try:
    with pytest.raises(registry.RewardFailedError,
                       match=rf"'{RAISES}' failed on all 2 .*RuntimeError: no grader"):
      registry.grade_batch(["a", "b"], [{}, {}], specs, pool=pool)
  finally:
    if pool is not None:
      pool.close()


def _train_rows(workdir):
  rows = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
  return [r for r in rows if "loss" in r]


@pytest.mark.slow  # Two RL runs (~1 min on 2 cores); the grading itself is compared above.
def test_trainer_custom_reward_same_with_and_without_pool(tmp_path):
  runs = {}
  for workers in (0, 2):
    c = _config(**{DIGITS: 1.0})
    c.reward_workers = workers
    rl_trainer.train_and_evaluate(c, str(tmp_path / str(workers)))
    runs[workers] = _train_rows(tmp_path / str(workers))
  for a, b in zip(runs[0], runs[2], strict=True):
    assert a[f"reward/{DIGITS}"] == b[f"reward/{DIGITS}"]
    assert a["reward/total"] == b["reward/total"]
    assert a[f"reward_failures/{DIGITS}"] == b[f"reward_failures/{DIGITS}"] == 0
  assert any(r[f"reward/{DIGITS}"] > 0 for r in runs[0])


def test_trainer_stops_when_a_reward_fails_everywhere(tmp_path):
  with pytest.raises(registry.RewardFailedError, match=RAISES):
    rl_trainer.train_and_evaluate(_config(**{RAISES: 1.0}), str(tmp_path))
  assert not (tmp_path / "metrics.jsonl").is_file() or not _train_rows(tmp_path)
