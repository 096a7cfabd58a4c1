"""Tests for r1jax.rewards.format: the R1 template checks."""
import time

import pytest

from r1jax.rewards import format as fmt

GOOD = "<think>\n12+7=19\n</think>\n<answer>19</answer>"


@pytest.mark.parametrize("completion,strict,lenient,tags", [
    (GOOD, 1.0, 1.0, 1.0),
    ("  " + GOOD + "\n", 1.0, 1.0, 1.0),
    ("<think>r</think><answer>a</answer>", 1.0, 1.0, 1.0),
    ("Sure! " + GOOD, 0.0, 1.0, 1.0),
    (GOOD + " trailing", 0.0, 1.0, 1.0),
    ("<think>r</think> text <answer>a</answer>", 0.0, 1.0, 1.0),
    ("<think> </think><answer>a</answer>", 0.0, 1.0, 1.0),
    ("<think>r</think><answer> </answer>", 0.0, 0.0, 1.0),
    ("<answer>a</answer><think>r</think>", 0.0, 0.0, 1.0),
    ("<think>r</think>", 0.0, 0.0, 0.5),
    ("<think>r<think>r</think><answer>a</answer>", 0.0, 1.0, 0.75),
    ("<think>r</think><answer>a</answer><answer>b</answer>", 0.0, 1.0, 0.5),
    ("no tags at all", 0.0, 0.0, 0.0),
    ("", 0.0, 0.0, 0.0),
])
def test_format(completion, strict, lenient, tags):
  assert fmt.strict(completion) == strict
  assert fmt.lenient(completion) == lenient
  assert fmt.tag_count(completion) == tags


def test_think_in_prompt():
  completion = "12+7=19\n</think>\n<answer>19</answer>"
  assert fmt.strict(completion, think_in_prompt=True) == 1.0
  assert fmt.strict(completion) == 0.0
  assert fmt.lenient(completion, think_in_prompt=True) == 1.0
  assert fmt.tag_count(completion, think_in_prompt=True) == 1.0


def test_megabyte_of_tags_is_fast():
  text = "<think>" * 150_000 + "</answer>" * 50_000
  start = time.perf_counter()
  assert fmt.strict(text) == fmt.lenient(text) == fmt.tag_count(text) == 0.0
  assert time.perf_counter() - start < 1.0
