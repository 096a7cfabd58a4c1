"""Tests for r1jax.rewards.registry: the named rewards and in-process batch grading."""
import time

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

from r1jax.rewards import registry
from r1jax.rewards.registry import RewardSpec

ARITH = "<think>12+7=19\n19*3=57\n</think><answer>57</answer>"
ARITH_EXAMPLE = {"answer": "57", "solution": "12 + 7 = 19\n19 * 3 = 57", "task": "arithmetic"}
COUNTDOWN = "<think>try</think><answer>(3+5)*2-4</answer>"
COUNTDOWN_EXAMPLE = {"numbers": [3, 5, 2, 4], "target": 12, "task": "countdown"}


def test_contract_names():
  assert set(registry.REWARDS) == {
      "math_accuracy", "math_accuracy_flexible", "format_strict", "format_lenient", "format_tags",
      "countdown",
      "process_steps", "process_reference", "overlong", "cosine_length", "efficiency",
      "repetition", "language_consistency"}
  for fn in registry.REWARDS.values():
    assert fn.__doc__


def test_get_reward_unknown_names_known_ones():
  with pytest.raises(ValueError, match=r"'nope'.*math_accuracy"):
    registry.get_reward("nope")


@pytest.mark.parametrize("name,params,example,completion,score", [
    ("math_accuracy", {}, ARITH_EXAMPLE, ARITH, 1.0),
    ("math_accuracy", {}, {"answer": "58"}, ARITH, 0.0),
    ("format_strict", {}, {}, ARITH, 1.0),
    ("format_lenient", {}, {}, "x " + ARITH, 1.0),
    ("format_tags", {}, {}, "<think>a</think>", 0.5),
    ("countdown", {}, COUNTDOWN_EXAMPLE, COUNTDOWN, 1.0),
    ("process_steps", {}, {}, ARITH, 1.0),
    ("process_reference", {}, ARITH_EXAMPLE, ARITH, 1.0),
    ("overlong", {"max_len": 40, "cache_len": 10}, {}, "x" * 35, -0.5),
    ("overlong", {"max_len": 40, "cache_len": 10, "num_tokens": 5}, {}, "x" * 35, 0.0),
    ("cosine_length", {"max_len": 100}, ARITH_EXAMPLE, "<answer>57</answer>",
     0.5 + 0.25 * (1 + np.cos(np.pi * 19 / 100))),
    ("cosine_length", {"max_len": 100}, COUNTDOWN_EXAMPLE, COUNTDOWN,
     0.5 + 0.25 * (1 + np.cos(np.pi * len(COUNTDOWN) / 100))),
    ("efficiency", {}, ARITH_EXAMPLE, ARITH, -(1 - (ARITH.index("57") + 2) / len(ARITH))),
    ("repetition", {"ngram": 1}, {}, "a a a a", -0.75),
    ("language_consistency", {}, {}, ARITH, 0.0),
    ("language_consistency", {}, {}, "<think>we add</think>", 1.0),
])
def test_each_reward(name, params, example, completion, score):
  out, failed = registry.call_reward(name, completion, example, params)
  assert not failed
  assert out.score == pytest.approx(score, abs=1e-9)


def test_dense_rewards_return_step_offsets():
  out, _ = registry.call_reward("process_steps", ARITH, {}, {})
  assert out.steps == [(ARITH.index("19\n") + 2, 1.0), (ARITH.index("57\n") + 2, 1.0)]
  out, _ = registry.call_reward("math_accuracy", ARITH, ARITH_EXAMPLE, {})
  assert out.steps is None


def test_grade_batch_weighted_sum_and_steps():
  completions = [ARITH, ARITH.replace("57\n", "56\n"), "garbage"]
  examples = [ARITH_EXAMPLE] * 3
  specs = [RewardSpec("math_accuracy", 1.0), RewardSpec("format_strict", 0.5),
           RewardSpec("process_steps", 0.25, {"incorrect": -1.0})]
  out = registry.grade_batch(completions, examples, specs)
  per = {"math_accuracy": [1, 1, 0], "format_strict": [1, 1, 0], "process_steps": [1, 0.5, 0]}
  ref = sum(s.weight * np.asarray(per[s.name], np.float64) for s in specs)  # float64 reference
  np.testing.assert_allclose(out.total, ref, rtol=1e-6)
  assert out.total.dtype == np.float32 and out.total.shape == (3,)
  for name, values in per.items():
    np.testing.assert_array_equal(out.per_reward[name], np.asarray(values, np.float32))
  wrong = completions[1]
  assert out.steps[1] == [(wrong.index("19\n") + 2, 0.25), (wrong.index("56\n") + 2, -0.25)]
  assert out.steps[2] == [] and out.failures == {s.name: 0 for s in specs}


def test_grade_batch_num_tokens():
  specs = [RewardSpec("overlong", 1.0, {"max_len": 100, "cache_len": 50})]
  out = registry.grade_batch(["ab", "ab"], [{}, {}], specs, num_tokens=[10, 75])
  np.testing.assert_array_equal(out.total, np.asarray([0.0, -0.5], np.float32))


@pytest.mark.parametrize("specs,examples,match", [
    ([RewardSpec("nope")], [{}], "unknown reward"),
    ([RewardSpec("math_accuracy")], [{"question": "q"}], r"needs example field\(s\) \['answer'\]"),
    ([RewardSpec("countdown")], [{"numbers": [1]}], "target"),
    ([RewardSpec("overlong", 1.0, {"max_len": 10})], [{}], "bad params"),
    ([RewardSpec("format_strict", 1.0, {"typo": 1})], [{}], "typo"),
    ([RewardSpec("overlong", 1.0, {"max_len": 10, "cache_len": 20})], [{}], "cache_len"),
    ([RewardSpec("language_consistency", 1.0, {"script": "klingon"})], [{}], "klingon"),
    ([RewardSpec("repetition", 1.0, {"ngram": 0})], [{}], "ngram"),
    ([RewardSpec("cosine_length", 1.0, {"max_len": "long"})], [{"answer": "1"}], "max_len"),
    ([RewardSpec("format_strict"), RewardSpec("format_strict")], [{}], "once"),
    ([RewardSpec("format_strict", float("nan"))], [{}], "finite"),
])
def test_configuration_errors_raise(specs, examples, match):
  with pytest.raises(ValueError, match=match):
    registry.grade_batch(["x"] * len(examples), examples, specs)


def test_length_mismatch_raises():
  with pytest.raises(ValueError, match="2 completions but 1 examples"):
    registry.grade_batch(["a", "b"], [{}], [RewardSpec("format_strict")])


def test_failures_are_counted_not_raised(monkeypatch):
  def broken(completion, example):
    raise RuntimeError(completion + str(example))

  def slow(completion, example):
    del completion, example
    while True:
      pass

  monkeypatch.setitem(registry.REWARDS, "broken", broken)
  monkeypatch.setitem(registry.REWARDS, "slow", slow)
  specs = [RewardSpec("broken"), RewardSpec("slow"), RewardSpec("format_tags")]
  start = time.perf_counter()
  out = registry.grade_batch(["<think>a</think>"] * 2, [{}, {}], specs, timeout_s=0.2,
                             allow_total_failure=True)
  assert time.perf_counter() - start < 2.0  # two 0.2 s timeouts, nothing else slow
  assert out.failures == {"broken": 2, "slow": 2, "format_tags": 0}
  np.testing.assert_array_equal(out.total, np.asarray([0.5, 0.5], np.float32))


HOSTILE = [
    "\\boxed{9^{9^{9^{9}}}}", "\\boxed{100000!}", "\\boxed{" + "{" * 10_000 + "}" * 10_000 + "}",
    "x" * 1_000_000, "<answer>" + "(" * 10_000 + "</answer>", "1+1=2 " * 150_000,
    "<think>" + "\u6211" * 300_000 + "</think>", "\\boxed{__import__('os').system('ls')}",
    "<<" + "9" * 100 + "**99=1>>", "\\boxed{" * 100_000,
]
ALL_EXAMPLE = {**ARITH_EXAMPLE, **COUNTDOWN_EXAMPLE}
ALL_PARAMS = {"overlong": {"max_len": 100, "cache_len": 10}, "cosine_length": {"max_len": 100}}


@pytest.mark.parametrize("name", sorted(registry.REWARDS))
def test_hostile_inputs_every_reward(name):
  for text in HOSTILE:
    start = time.perf_counter()
    out, failed = registry.call_reward(name, text, ALL_EXAMPLE, ALL_PARAMS.get(name, {}))
    assert time.perf_counter() - start < 1.0, (name, text[:30])
    assert not failed and np.isfinite(out.score)
    if name in ("math_accuracy", "countdown", "format_strict", "format_lenient",
                "process_reference"):
      assert out.score == 0.0, (name, text[:30])


_PIECES = ["<think>", "</think>", "<answer>", "</answer>", "\\boxed{", "}", "{", "=", "<<", ">>",
           "12", "+", "*", "/", "(", ")", "3.5", "-", " ", "\n", "x", "\\frac{1}{2}", ",", "####",
           "the answer is ", "\u6211", "$", "\\pm", "9^{9^{9}}", "a b a b"]


@hypothesis.settings(max_examples=150, deadline=None, derandomize=True)
@hypothesis.given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)
                  | st.text(max_size=80))
def test_fuzz_no_reward_ever_fails(text):
  # A failure here would be an exception inside a reward: a bug, since all input is valid input.
  for name in registry.REWARDS:
    start = time.perf_counter()
    out, failed = registry.call_reward(name, text, ALL_EXAMPLE, ALL_PARAMS.get(name, {}))
    assert not failed and np.isfinite(out.score), name
    assert time.perf_counter() - start < 1.0
    assert out.steps is None or all(0 <= o <= len(text) for o, _ in out.steps)
