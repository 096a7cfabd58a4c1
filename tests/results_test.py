"""results.json: one format from every main's outcome; eval rows of a resumed run's
metrics.jsonl counted once; NaN round trip; atomic, finished-only files."""
import json
import math

import pytest

from r1jax import results


def _jsonl(path, rows):
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_rl_results_from_metrics_jsonl_with_resume_duplicates(tmp_path):
  _jsonl(tmp_path / "metrics.jsonl", [
      {"step": -10, "sft/loss": 1.0},  # Warm start: not an RL step.
      {"step": 0, "eval/pass@1": 0.2, "eval/length": 9.0},
      {"step": 1, "loss": 0.5, "reward/total": 0.1, "time/step": 3.0},
      {"step": 2, "loss": 0.4, "reward/total": 0.3, "time/step": 2.0},
      {"step": 2, "eval/pass@1": 0.6, "eval/length": 11.0},
      # Killed after the step-2 checkpoint, resumed: step 3+ logged again, and step 2's eval
      # (re-logged by a resumed run) must not count twice.
      {"step": 2, "eval/pass@1": 0.6, "eval/length": 11.0},
      {"step": 3, "loss": 0.3, "reward/total": "nan", "time/step": 9.0},
      {"step": 4, "eval/pass@1": 0.5, "eval/length": 12.0},
  ])
  res = results.write(tmp_path, "rl", {"end": {"eval/pass@1": 0.5}}, started=None)
  assert [h["step"] for h in res["history"]] == [0, 2, 4]
  assert res["final"] == {"eval/pass@1": 0.5, "eval/length": 12.0}
  assert res["best"] == {"eval/pass@1": 0.6, "eval/length": 12.0}
  assert res["train"]["loss"] == 0.3 and "time/step" not in res["train"]
  back = results.read(tmp_path)  # NaN (a reward) survives strict JSON.
  assert math.isnan(back["train"]["reward/total"]) and back["final"] == res["final"]
  assert math.isnan(back["wall_time_s"])  # No start time given.
  assert results.is_finished(tmp_path)
  assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("kind,outcome,final", [
    ("sft", {"model": "m", "eval": {"eval/pass@1": 0.25}}, {"eval/pass@1": 0.25}),
    ("expert_iteration", {"history": [{"round": 0, "eval/pass@1": 0.1},
                                      {"round": 1, "eval/pass@1": 0.3}]},
     {"round": 1.0, "eval/pass@1": 0.3}),
    ("eval", [{"task": "gsm8k/test", "metrics": {"greedy/pass@1": 0.4}}],
     {"eval/gsm8k/test/greedy/pass@1": 0.4}),
    ("rejection_sampling", {"rows": 23, "provenance": {"x": 1}}, {"rows": 23.0}),
])
def test_every_main_kind_gets_the_same_format(kind, outcome, final, tmp_path):
  res = results.write(tmp_path, kind, outcome, started=0.0)
  assert res["final"] == final and res["kind"] == kind and res["wall_time_s"] > 0
  assert results.read(tmp_path / "results.json")["final"] == final


def test_not_a_results_file_is_refused_naming_it(tmp_path):
  (tmp_path / "results.json").write_text('{"status": "finished"}')
  with pytest.raises(ValueError, match="results.json: not an r1jax results file"):
    results.read(tmp_path)
  assert not results.is_finished(tmp_path) and not results.is_finished(tmp_path / "nope")
  with pytest.raises(ValueError, match="kind"):
    results.build(tmp_path, "dpo", None, 1.0)
