"""The grader case set (benchmarks/grader_cases.py) through r1jax's grader, both extraction
modes, and the two ways a run selects the mode: reward_params and eval.accuracy_reward."""
import pathlib
import sys
import time

import pytest

from r1jax.rewards import math as rm
from r1jax.rewards import registry
from r1jax.train import defaults
from r1jax.train import setup as setup_lib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import grader_cases  # noqa: E402  pylint: disable=wrong-import-position

_CASES = grader_cases.CASES
_IDS = [f"{c[0]}-{i}" for i, c in enumerate(_CASES)]


def test_case_set_is_broad_and_has_subtle_negatives():
  categories = {c[0] for c in _CASES}
  assert len(_CASES) >= 250 and len(categories) >= 14
  for category in categories:  # Every category has both verdicts.
    assert {c[3] for c in _CASES if c[0] == category} == {True, False}, category


@pytest.mark.parametrize("category,completion,gold,expected", _CASES, ids=_IDS)
def test_flexible_agrees_with_every_verdict(category, completion, gold, expected):
  del category
  assert rm.grade(completion, gold, extraction="flexible") is expected


@pytest.mark.parametrize("category,completion,gold,expected", _CASES, ids=_IDS)
def test_strict_reads_only_r1_formats(category, completion, gold, expected):
  # Strict finds the same answers wherever the completion boxes, tags or '####'s it; the
  # 'prose' rows state their answer in unformatted text, which strict does not read.
  got = rm.grade(completion, gold)
  if rm.extract_answer(completion) is None:
    assert category in ("prose", "holdout") and got is False
  else:
    assert got is expected


def test_extraction_mode_is_checked():
  with pytest.raises(ValueError, match="extraction must be one of"):
    rm.grade("\\boxed{1}", "1", extraction="loose")


def _config(**reward_params):
  c = defaults.base_config()
  c.rewards.math_accuracy = 1.0
  c.reward_params.math_accuracy = dict(reward_params)
  return c


_PROSE = ["Checking every case, the largest n is 34.", "So $x = \\frac{1}{3}$.",
          "<answer>34</answer>", "the largest n is 35."]
_EXAMPLES = [{"answer": "34"}, {"answer": "1/3"}, {"answer": "34"}, {"answer": "34"}]


@pytest.mark.parametrize("params,want", [
    ({}, [0.0, 0.0, 1.0, 0.0]),
    ({"extraction": "strict"}, [0.0, 0.0, 1.0, 0.0]),
    ({"extraction": "flexible"}, [1.0, 1.0, 1.0, 0.0]),
])
def test_reward_params_choose_the_mode(params, want):
  specs = setup_lib.reward_specs(_config(**params))
  out = registry.grade_batch(_PROSE, _EXAMPLES, specs)
  assert out.per_reward["math_accuracy"].tolist() == want
  assert out.failures == {"math_accuracy": 0}


def test_bad_extraction_in_config_is_a_clear_error():
  specs = setup_lib.reward_specs(_config(extraction="loose"))
  with pytest.raises(ValueError, match="math_accuracy.*extraction must be one of"):
    registry.grade_batch(_PROSE, _EXAMPLES, specs)


def test_eval_config_grades_unformatted_answers():
  import importlib.util  # pylint: disable=import-outside-toplevel
  from r1jax.recipe import test_time  # pylint: disable=import-outside-toplevel
  path = pathlib.Path(__file__).resolve().parents[1] / "experiments/configs/eval_qwen25_math500.py"
  spec = importlib.util.spec_from_file_location("eval_qwen25_math500", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  reward = config.eval.accuracy_reward
  assert reward in registry.REWARDS
  # The path eval_main takes: test_time grades each completion with eval.accuracy_reward.
  grade = test_time._grade  # pylint: disable=protected-access
  assert grade(_PROSE, _EXAMPLES, reward).tolist() == [True, True, True, False]
  assert grade(_PROSE, _EXAMPLES, "math_accuracy").tolist() == [False, False, True, False]


_HOSTILE = {
    "display_openers": "\\[" * 16_000,
    "dollars": "$" * 32_000 + "5",
    "unclosed_inline": "$\\frac{1}{2}" + " x" * 15_000,
    "joined_boxes": "\\boxed{5}, " * 20_000,
    "wide_box_gap": "\\boxed{1}," + " " * 30_000 + "x\\boxed{5}",
    "numbers": "1," * 16_000,
    "inequality_chain": "\\boxed{" + " < ".join(["x"] * 300) + "}",
    "percent_words": "\\boxed{" + "5 percent " * 500 + "}",
    "labels": "\\boxed{" + "f(x) = " * 300 + "5}",
    "approximation": "\\boxed{0." + "3" * 590 + "}",
}


@pytest.mark.parametrize("name", sorted(_HOSTILE))
def test_hostile_inputs_stay_fast_in_both_modes(name):
  for extraction in rm.EXTRACTION_MODES:
    start = time.perf_counter()
    assert isinstance(rm.grade(_HOSTILE[name], "5", extraction=extraction), bool)
    assert time.perf_counter() - start < 1.0, extraction


def test_gold_solutions_extract_the_same_in_both_modes(shared_data_dir):
  # Every MATH-500 / GSM8K worked solution boxes or '####'s its answer, so flexible extraction
  # reads what strict reads, and the strict gold tests (rewards_math_test) cover both modes.
  import json  # pylint: disable=import-outside-toplevel
  for name, split, field in (("math500", "test", "solution"), ("gsm8k", "train", "answer"),
                             ("gsm8k", "test", "answer")):
    with open(shared_data_dir / name / f"{split}.jsonl") as f:
      rows = [json.loads(line) for line in f]
    for row in rows:
      strict = rm.extract_answer(row[field])
      assert strict is not None and rm.extract_answer(row[field], "flexible") == strict


def test_maj_at_k_votes_on_what_the_accuracy_reward_reads():
  from r1jax.eval import evaluate  # pylint: disable=import-outside-toplevel
  from r1jax.eval import metrics  # pylint: disable=import-outside-toplevel
  texts = ["so the largest n is 34.", "I get $34$.", "thus 34", "\\boxed{12}"]
  correct = [[True, True, True, False]]
  strict = [[evaluate.answer_key(t, registry.answer_extraction("math_accuracy")) for t in texts]]
  flexible = [[evaluate.answer_key(t, registry.answer_extraction("math_accuracy_flexible"))
               for t in texts]]
  assert strict == [[None, None, None, "12"]]
  assert flexible == [["34", "34", "34", "12"]]
  # Strict keys leave "12" the only vote, a wrong majority; flexible keys find the right one.
  assert metrics.maj_at_k(strict, correct, 4) == 0.0
  assert metrics.maj_at_k(flexible, correct, 4) == 1.0


@pytest.mark.parametrize("text,answer", [
    ("It costs $18 for apples and $20 for pears, total $38.", "38"),
    ("We get $x = 2$ and then $$y = 3$$ so", "y = 3"),
    ("The roots are $\\text{two and three}$", "\\text{two and three}"),
    ("So $5 apples$ remain", "5 apples"),
    ("Final: \\(\\frac{1}{2}\\) of it, i.e. 0.5 of the cake", "\\frac{1}{2}"),
    ("no math here, 3 then 4,000 items", "4,000"),
    ("no numbers", None),
])
def test_flexible_extraction(text, answer):
  assert rm.extract_answer(text, "flexible") == answer
  assert rm.extract_answer(text) is None  # None of these is in a format strict reads.
