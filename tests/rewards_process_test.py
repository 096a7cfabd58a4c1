"""Tests for r1jax.rewards.process: dense step rewards."""
import json
import time
from fractions import Fraction

import pytest

from r1jax.rewards import process

TRACE = "<think>12+7=19\n19*3=56\n</think><answer>56</answer>"


def test_synthetic_trace_steps_and_offsets():
  score, steps = process.self_checked(TRACE)
  assert steps == [(TRACE.index("19\n") + 2, 1.0), (TRACE.index("56") + 2, 0.0)]
  assert score == 0.5


def test_gsm8k_annotations():
  text = "She sold 48/2 = <<48/2=24>>24 clips.\nThen 48+24 = <<48+24=73>>73 clips."
  score, steps = process.self_checked(text, correct=1.0, incorrect=-1.0)
  first, second = text.index("24>>") + 4, text.index("73>>") + 4
  assert steps == [(first, 1.0), (second, -1.0)]
  assert score == 0.5


@pytest.mark.parametrize("text,expected", [
    ("10/3 = 3.33", True), ("10/3 = 3.3", True), ("10/3 = 3.4", False), ("10/3 = 3", False),
    ("1,000 + 24 = 1,024", True), ("1/2 * 1/2 = 1/4", True), ("0.2 x 50 = 10", True),
    ("5/0 = 1", False), ("2 - 5 = -3", True),
])
def test_step_checks(text, expected):
  steps = process.find_steps(text)
  assert len(steps) == 1 and process.is_correct(steps[0]) is expected


@pytest.mark.parametrize("text", ["x = 5", "2x+3 = 7", "= 24", "a = b + 1", "(1, 2) = 3"])
def test_not_steps(text):
  assert process.find_steps(text) == []


def test_reference_matching_rewards_each_result_once():
  solution = "48/2 = <<48/2=24>>24\n48+24 = <<48+24=72>>72\n#### 72"
  assert process.reference_values(solution) == [Fraction(24), Fraction(72)]
  completion = "48/2=24, 24+48=72, 48+24=72, 1+1=24"
  score, steps = process.reference_matched(completion, solution)
  assert score == 1.0
  assert [r for _, r in steps] == [1.0, 1.0, 0.0, 0.0]
  score, steps = process.reference_matched(completion, solution, require_correct=False)
  assert [r for _, r in steps] == [1.0, 1.0, 0.0, 0.0]  # 24 already earned by the first step
  assert process.reference_matched("30+42=72", solution, reward=0.5) == (0.5, [(8, 0.5)])
  assert process.reference_matched("1+1=72", solution) == (0.0, [(6, 0.0)])


def test_gsm8k_gold_annotations_are_checkable(shared_data_dir):
  with open(shared_data_dir / "gsm8k" / "test.jsonl") as f:
    rows = [json.loads(line) for line in f]
  steps = [s for r in rows for s in process.find_steps(r["answer"])]
  correct = sum(process.is_correct(s) for s in steps)
  assert len(steps) > 4000 and correct / len(steps) > 0.99  # the rest are errors in the data


def test_bounded_on_hostile_text():
  text = "1+1=2 " * 200_000 + "=" * 300_000
  start = time.perf_counter()
  score, steps = process.self_checked(text)
  assert len(steps) == process.MAX_STEPS and score == 1.0
  assert time.perf_counter() - start < 1.0
