"""pass@k against enumeration, maj@k on hand examples, s1 and thinking-efficiency metrics."""
import itertools
import math
from fractions import Fraction

import pytest

from r1jax.eval import metrics

# Float64 products of at most a few hundred factors: agreement to 1e-12 relative.
RTOL = 1e-12


def _pass_at_k_enumerated(n, c, k):
  """Share of k-subsets of n samples (the first c correct) holding at least one correct one."""
  subsets = list(itertools.combinations(range(n), k))
  return sum(any(i < c for i in s) for s in subsets) / len(subsets)


def test_pass_at_k_matches_enumeration():
  for n in range(1, 8):
    for c in range(n + 1):
      for k in range(1, n + 1):
        assert metrics.pass_at_k(n, c, k) == pytest.approx(
            _pass_at_k_enumerated(n, c, k), rel=RTOL, abs=1e-15), (n, c, k)


@pytest.mark.parametrize("n, c, k", [(1000, 10, 100), (1024, 1, 1), (200, 3, 64), (64, 0, 8)])
def test_pass_at_k_large_n_matches_exact_binomials(n, c, k):
  exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
  assert metrics.pass_at_k(n, c, k) == pytest.approx(float(exact), rel=RTOL, abs=1e-15)


def test_pass_at_k_rejects_bad_counts():
  with pytest.raises(ValueError, match="0 <= c <= n"):
    metrics.pass_at_k(4, 5, 1)
  with pytest.raises(ValueError, match="1 <= k <= n"):
    metrics.pass_at_k(4, 1, 5)


def test_mean_pass_at_k():
  correct = [[True, False, False, True], [False] * 4]
  assert metrics.mean_pass_at_k(correct, 1) == pytest.approx(0.25, rel=RTOL)
  # Problem 0: 1 - C(2,2)/C(4,2) = 5/6; problem 1: 0.
  assert metrics.mean_pass_at_k(correct, 2) == pytest.approx(5 / 12, rel=RTOL)
  with pytest.raises(ValueError, match="problem 1 has 2 samples, fewer than k=3"):
    metrics.mean_pass_at_k([[True] * 3, [True] * 2], 3)


def test_majority_vote_ties_and_none():
  assert metrics.majority_vote(["3", "4", "3", None, "4"], 5) == "3"  # 2-2 tie: first seen
  assert metrics.majority_vote(["4", "3", "3", None, "4"], 5) == "4"
  assert metrics.majority_vote(["4", "3", "3"], 2) == "4"  # only the first k vote
  assert metrics.majority_vote([None, None, "7"], 3) == "7"  # None never wins
  assert metrics.majority_vote([None, None], 2) is None
  with pytest.raises(ValueError, match="1 <= k <= 2"):
    metrics.majority_vote(["1", "2"], 3)


def test_majority_vote_with_canonicaliser():
  def canon(s):
    try:
      return Fraction(s)
    except ValueError:
      return None  # unreadable answers do not vote
  answers = ["0.25", "1/2", "junk", "0.5", "junk", "1/4", "0.50", "junk"]
  assert metrics.majority_vote(answers, 8, key=canon) == "1/2"  # 1/2 x3 beats 1/4 x2
  assert metrics.majority_vote(answers, 8) == "junk"  # without it, raw strings vote apart


def test_maj_at_k_hand_examples():
  answers = [["3", "4", "3"], ["1", "2", "2"], [None, None, None], ["a", "b", "b"]]
  correct = [[True, False, True], [True, False, False], [False] * 3, [True, False, False]]
  # Majorities: "3" (right), "2" (wrong), none (wrong), "b" (wrong).
  assert metrics.maj_at_k(answers, correct, 3) == pytest.approx(0.25, rel=RTOL)
  # k=1 votes on the first sample alone: right, right, none, right.
  assert metrics.maj_at_k(answers, correct, 1) == pytest.approx(0.75, rel=RTOL)
  # maj@3 can fall below pass@1: problem 3 alone has pass@1 1/3 but maj@3 0.
  assert metrics.maj_at_k(answers[3:], correct[3:], 3) == 0.0
  assert metrics.mean_pass_at_k(correct[3:], 1) == pytest.approx(1 / 3, rel=RTOL)
  with pytest.raises(ValueError, match="problem 0 has 3 answers but 2 verdicts"):
    metrics.maj_at_k([["1", "2", "3"]], [[True, False]], 2)


def test_s1_metrics_hand_computed():
  budgets = [512, 1024, 2048, 4096]
  tokens = [500, 1000, 2100, 3000]  # the 2048 budget is overrun
  acc = [0.2, 0.3, 0.5, 0.4]
  slopes = [Fraction(1, 10) / 500, Fraction(3, 10) / 1600, Fraction(2, 10) / 2500,
            Fraction(2, 10) / 1100, Fraction(1, 10) / 2000, Fraction(-1, 10) / 900]
  out = metrics.s1_metrics(budgets, tokens, acc)
  assert out["control"] == 0.75
  assert out["scaling"] == pytest.approx(float(sum(slopes) / 6), rel=1e-9)  # acc is decimal
  assert out["performance"] == 0.5
  # Order of settings does not matter; a lower bound can fail settings too.
  perm = [2, 0, 3, 1]
  shuffled = metrics.s1_metrics([budgets[i] for i in perm], [tokens[i] for i in perm],
                                [acc[i] for i in perm], min_tokens=600)
  assert shuffled["control"] == 0.5
  assert shuffled["scaling"] == pytest.approx(out["scaling"], rel=1e-12)


def test_s1_scaling_skips_equal_compute():
  # Pairs: (100,200) slope 1e-3, (100,200) again 2e-3; (200,200) has no slope.
  assert metrics.s1_scaling([100, 200, 200], [0.1, 0.2, 0.3]) == pytest.approx(1.5e-3, rel=1e-9)
  with pytest.raises(ValueError, match="at least two settings"):
    metrics.s1_scaling([100, 100], [0.1, 0.2])
  with pytest.raises(ValueError, match="equal-length"):
    metrics.s1_control([1, 2], [1])


def test_overthinking_metrics():
  rounds = [[(40, False), (100, True), (160, True)], [(50, True)], [(30, False)]]
  totals = [200, 50, 80]
  # sigma * T_first / T: 100/200, 50/50, 0.
  assert metrics.outcome_efficiency(rounds, totals) == pytest.approx(0.5, rel=RTOL)
  # After the first correct answer: 100/200 and 0/50; the third never answered correctly.
  assert metrics.tokens_after_first_correct(rounds, totals) == pytest.approx(0.25, rel=RTOL)
  assert math.isnan(metrics.tokens_after_first_correct([[(10, False)]], [10]))


def test_underthinking_score():
  thoughts = [[(20, False), (60, True), (100, False)], [(30, False)], [(10, True)]]
  totals = [100, 40, 10]
  final = [False, False, True]
  # Incorrect ones only: 1 - 60/100 and 0 (no correct thought); the correct one is left out.
  assert metrics.underthinking_score(thoughts, totals, final) == pytest.approx(0.2, rel=RTOL)
  assert math.isnan(metrics.underthinking_score(thoughts[2:], totals[2:], final[2:]))


def test_round_ends_are_validated():
  with pytest.raises(ValueError, match="response 0: round 1 ends at 5"):
    metrics.outcome_efficiency([[(10, False), (5, True)]], [20])
  with pytest.raises(ValueError, match="response 0: round 0 ends at 30"):
    metrics.outcome_efficiency([[(30, True)]], [20])
  with pytest.raises(ValueError, match="2 responses vs 1 token totals"):
    metrics.outcome_efficiency([[], []], [5])
