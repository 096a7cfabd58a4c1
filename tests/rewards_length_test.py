"""Tests for r1jax.rewards.length: overlong, cosine, efficiency, repetition."""
import math
import time

import numpy as np
import pytest

from r1jax.rewards import length
from r1jax.rewards import math as rm


@pytest.mark.parametrize("n,expected", [(0, 0.0), (80, 0.0), (90, -0.5), (100, -1.0), (101, -1.0)])
def test_overlong_matches_dapo(n, expected):
  # DAPO: 0 if |y| <= L_max - L_cache, ((L_max - L_cache) - |y|) / L_cache inside, -1 beyond.
  assert length.overlong(n, max_len=100, cache_len=20) == pytest.approx(expected, abs=1e-12)


def test_overlong_rejects_bad_config():
  with pytest.raises(ValueError, match="cache_len"):
    length.overlong(5, max_len=10, cache_len=20)


def test_cosine_against_reference_formula():
  lengths = np.arange(0, 101)
  for correct, (start, end) in ((True, (1.0, 0.5)), (False, (-1.0, -0.5))):
    ref = end + 0.5 * (start - end) * (1 + np.cos(np.pi * lengths / 100))  # float64 reference
    got = [length.cosine(int(n), correct, max_len=100) for n in lengths]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
  assert length.cosine(0, True, 100) == 1.0 and length.cosine(100, True, 100) == 0.5
  assert length.cosine(0, False, 100) == -1.0 and length.cosine(100, False, 100) == -0.5
  assert length.cosine(101, True, 100, exceed_penalty=-2.0) == -2.0


def test_cosine_prefers_short_correct_and_long_wrong():
  assert length.cosine(10, True, 100) > length.cosine(90, True, 100)
  assert length.cosine(10, False, 100) < length.cosine(90, False, 100)


def test_efficiency_penalises_text_after_the_first_correct_answer():
  def is_correct(span):
    return rm.grade(span, "57")
  text = "12+7=19\n19*3=57\nLet me double-check that again carefully.\n</think><answer>57</answer>"
  first = text.index("57") + 2
  assert length.first_correct_offset(text, is_correct) == first
  assert length.efficiency(text, is_correct) == pytest.approx(-(1 - first / len(text)))
  assert length.efficiency("<answer>57</answer>", is_correct) == 0.0
  assert length.efficiency("19*3=56\n<answer>56</answer>", is_correct) == 0.0
  assert length.efficiency("", is_correct) == 0.0


def test_efficiency_sees_boxed_and_answer_is():
  text = "So \\boxed{4}. Hmm, but maybe... no. The answer is 4."
  assert length.first_correct_offset(text, lambda s: rm.grade(s, "4")) == text.index(". Hmm")


@pytest.mark.parametrize("text,ngram,expected", [
    ("a b c d", 2, 0.0), ("a b a b a b", 2, -0.6), ("x", 2, 0.0), ("", 3, 0.0),
    ("w " * 10, 1, -0.9),
])
def test_repetition(text, ngram, expected):
  assert length.repetition(text, ngram=ngram) == pytest.approx(expected, abs=1e-12)


def test_repetition_is_bounded_on_a_megabyte():
  start = time.perf_counter()
  assert length.repetition("step " * 250_000, ngram=4) == pytest.approx(-1.0, abs=1e-3)
  assert time.perf_counter() - start < 1.0
  assert math.isclose(length.repetition("a b", ngram=1, max_penalty=-2.0), 0.0)
