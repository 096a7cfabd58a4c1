"""Tests for r1jax.rewards.countdown."""
import pytest

from r1jax.rewards import countdown

NUMBERS, TARGET = [3, 5, 2, 4], 12


@pytest.mark.parametrize("answer,score", [
    ("(3+5)*2-4", 1.0),
    ("2*(5+3)-4", 1.0),
    ("(3+5)*2-4 = 12", 1.0),
    ("$(3 + 5) \\times 2 - 4$", 1.0),
    ("\\boxed{(3+5)*2-4}", 1.0),
    ("(3+5)*2+4", 0.0),  # wrong value: format_score, 0 by default
    ("(3+5)*2", 0.0),  # a number unused
    ("(3+5)*2-4+3", 0.0),  # a number used twice
    ("(3+5)*2-4*1", 0.0),  # a number not given
    ("35*2-4", 0.0),  # concatenated digits
    ("-(3+5)*2+4", 0.0),  # unary minus
    ("(3+5)**2-4", 0.0),
    ("3/(5-5)*2*4", 0.0),
    ("12", 0.0),
    ("", 0.0),
    ("__import__('os').system('echo 12')", 0.0),
])
def test_score(answer, score):
  assert countdown.score(f"<think>...</think><answer>{answer}</answer>", NUMBERS, TARGET) == score


def test_partial_credit_option():
  completion = "<answer>(3+5)*2+4</answer>"
  assert countdown.score(completion, NUMBERS, TARGET, format_score=0.1) == 0.1
  assert countdown.score("<answer>(3+5)*2</answer>", NUMBERS, TARGET, format_score=0.1) == 0.0


def test_repeated_numbers_are_a_multiset():
  assert countdown.score("<answer>2*2+5</answer>", [2, 2, 5], 9) == 1.0
  assert countdown.score("<answer>2*2*2+1</answer>", [2, 2, 1], 9) == 0.0


def test_fractional_intermediate_values_are_exact():
  assert countdown.score("<answer>(7/2)*2</answer>", [7, 2, 2], 7) == 1.0


def test_payload_does_nothing(tmp_path):
  marker = tmp_path / "pwned"
  completion = f"<answer>__import__('os').system('touch {marker}')</answer>"
  assert countdown.score(completion, NUMBERS, TARGET, format_score=1.0) == 0.0
  assert not marker.exists()
