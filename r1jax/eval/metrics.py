"""Evaluation metrics on graded samples: pass@k, maj@k, s1 budget metrics, thinking efficiency.

Pure Python/NumPy (no JAX) so they run anywhere graded results can be loaded. Inputs are host
values produced by the sampler and the reward graders:
  correct[p][i]     whether sample i of problem p is correct (the grader's verdict)
  answers[p][i]     extracted final answer of that sample, or None when none was found
  rounds / thoughts per response: a list of (end, correct) pairs, one per solution round or
                    thought, in order; `end` is the token offset just past the round (the round's
                    tokens are [previous end, end)), so 1 <= end <= total_tokens
"""
from __future__ import annotations

import math
from typing import Callable, Hashable, Sequence

import numpy as np

Round = tuple[int, bool]


def pass_at_k(n: int, c: int, k: int) -> float:
  """Unbiased pass@k from n samples with c correct: 1 - C(n-c, k) / C(n, k).

  Product form 1 - prod_{i=n-c+1..n} (1 - k/i): no huge binomials, no cancellation.
  """
  if not 0 <= c <= n:
    raise ValueError(f"pass_at_k: need 0 <= c <= n, got n={n}, c={c}")
  if not 1 <= k <= n:
    raise ValueError(f"pass_at_k: need 1 <= k <= n, got n={n}, k={k}")
  if n - c < k:  # every k-subset contains a correct sample
    return 1.0
  return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))


def mean_pass_at_k(correct: Sequence[Sequence[bool]], k: int) -> float:
  """pass@k averaged over problems; k=1 is R1's pass@1 (mean correctness over samples)."""
  if not correct:
    raise ValueError("mean_pass_at_k: no problems")
  scores = []
  for p, flags in enumerate(correct):
    if k > len(flags):
      raise ValueError(f"mean_pass_at_k: problem {p} has {len(flags)} samples, fewer than k={k}")
    scores.append(pass_at_k(len(flags), int(sum(bool(f) for f in flags)), k))
  return float(np.mean(scores))


def _majority_index(answers: Sequence[str | None], k: int,
                    key: Callable[[str], Hashable | None] | None) -> int | None:
  """Index (among the first k) of the first answer of the largest group, or None."""
  if not 1 <= k <= len(answers):
    raise ValueError(f"majority vote: need 1 <= k <= {len(answers)} answers, got k={k}")
  counts: dict[Hashable, int] = {}
  first: dict[Hashable, int] = {}
  for i, answer in enumerate(answers[:k]):
    group = None if answer is None else (answer if key is None else key(answer))
    if group is None:  # no answer, or one the canonicaliser could not read: no vote
      continue
    counts[group] = counts.get(group, 0) + 1
    first.setdefault(group, i)
  if not counts:
    return None
  # Dicts keep insertion order and max() returns the first maximum: ties go to first occurrence.
  return first[max(counts, key=counts.get)]


def majority_vote(answers: Sequence[str | None], k: int,
                  key: Callable[[str], Hashable | None] | None = None) -> str | None:
  """Most frequent of the first k answers, as first written; None only if none can vote.

  `key` maps an answer to its group (e.g. a canonicaliser so "1/2" and "0.5" vote together);
  answers that are None, or whose key is None, do not vote. Ties go to the group seen first.
  """
  i = _majority_index(answers, k, key)
  return None if i is None else answers[i]


def maj_at_k(answers: Sequence[Sequence[str | None]], correct: Sequence[Sequence[bool]], k: int,
             key: Callable[[str], Hashable | None] | None = None) -> float:
  """Share of problems whose majority answer over the first k samples is correct.

  The majority's verdict is that of its first occurrence in `correct`; no majority is wrong.
  """
  if len(answers) != len(correct) or not answers:
    raise ValueError(f"maj_at_k: {len(answers)} answer lists vs {len(correct)} correct lists")
  hits = 0
  for p, (ans, flags) in enumerate(zip(answers, correct)):
    if len(ans) != len(flags):
      raise ValueError(f"maj_at_k: problem {p} has {len(ans)} answers but {len(flags)} verdicts")
    i = _majority_index(ans, k, key)
    hits += i is not None and bool(flags[i])
  return hits / len(answers)


# s1 (arXiv 2501.19393) metrics over a budget sweep: one entry per budget setting.


def s1_control(budgets: Sequence[float], thinking_tokens: Sequence[float],
               min_tokens: float = 0) -> float:
  """Share of budget settings whose thinking tokens stay within [min_tokens, budget]."""
  b, t = _paired("s1_control", budgets, thinking_tokens)
  return float(np.mean((t >= min_tokens) & (t <= b)))


def s1_scaling(thinking_tokens: Sequence[float], accuracies: Sequence[float]) -> float:
  """Mean slope (f(b) - f(a)) / (b - a) over all pairs of settings with compute b > a.

  Pairs with equal compute have no slope and are left out; in accuracy units per token.
  """
  t, f = _paired("s1_scaling", thinking_tokens, accuracies)
  i, j = np.triu_indices(len(t), k=1)
  i, j = i[t[i] != t[j]], j[t[i] != t[j]]
  if len(i) == 0:
    raise ValueError("s1_scaling: needs at least two settings with different thinking tokens")
  return float(np.mean((f[j] - f[i]) / (t[j] - t[i])))


def s1_metrics(budgets: Sequence[float], thinking_tokens: Sequence[float],
               accuracies: Sequence[float], min_tokens: float = 0) -> dict[str, float]:
  """Control, Scaling and Performance (max accuracy) of a sweep.

  `thinking_tokens[i]` is the average thinking tokens actually used at `budgets[i]`; Scaling
  uses these realised amounts, the x-axis of s1's curves.
  """
  _, f = _paired("s1_metrics", thinking_tokens, accuracies)
  return {"control": s1_control(budgets, thinking_tokens, min_tokens),
          "scaling": s1_scaling(thinking_tokens, accuracies),
          "performance": float(f.max())}


def _paired(name: str, a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
    raise ValueError(f"{name}: need two equal-length non-empty 1-D sequences, "
                     f"got shapes {a.shape} and {b.shape}")
  return a, b


# Thinking efficiency: overthinking (arXiv 2412.21187), underthinking (arXiv 2501.18585).


def first_correct_end(rounds: Sequence[Round], total_tokens: int,
                      where: str = "response") -> int | None:
  """Tokens up to the end of the first correct round, or None if no round is correct."""
  if total_tokens < 1:
    raise ValueError(f"{where}: total_tokens must be >= 1, got {total_tokens}")
  previous = 0
  for r, (end, _) in enumerate(rounds):
    if not previous <= end <= total_tokens or end < 1:
      raise ValueError(f"{where}: round {r} ends at {end}; ends must be non-decreasing "
                       f"within [1, total_tokens={total_tokens}]")
    previous = end
  return next((end for end, ok in rounds if ok), None)


def _check_lengths(name: str, responses: Sequence, total_tokens: Sequence[int]) -> None:
  if len(responses) != len(total_tokens) or not responses:
    raise ValueError(f"{name}: {len(responses)} responses vs {len(total_tokens)} token totals")


def outcome_efficiency(rounds: Sequence[Sequence[Round]], total_tokens: Sequence[int]) -> float:
  """xi_O = mean over responses of sigma * T_first / T (sigma = 1 if any round is correct)."""
  _check_lengths("outcome_efficiency", rounds, total_tokens)
  scores = []
  for i, (rs, total) in enumerate(zip(rounds, total_tokens)):
    end = first_correct_end(rs, total, f"outcome_efficiency: response {i}")
    scores.append(0.0 if end is None else end / total)
  return float(np.mean(scores))


def tokens_after_first_correct(rounds: Sequence[Sequence[Round]],
                               total_tokens: Sequence[int]) -> float:
  """Mean share (T - T_first) / T over responses with a correct round; NaN if none has one."""
  _check_lengths("tokens_after_first_correct", rounds, total_tokens)
  shares = []
  for i, (rs, total) in enumerate(zip(rounds, total_tokens)):
    end = first_correct_end(rs, total, f"tokens_after_first_correct: response {i}")
    if end is not None:
      shares.append((total - end) / total)
  return float(np.mean(shares)) if shares else math.nan


def underthinking_score(thoughts: Sequence[Sequence[Round]], total_tokens: Sequence[int],
                        final_correct: Sequence[bool]) -> float:
  """Mean over incorrect responses of 1 - T_first / T; NaN if no response is incorrect.

  T_first counts tokens through the first correct thought; an incorrect response with no correct
  thought counts T_first = T (score 0: it never had a good line to abandon).
  """
  _check_lengths("underthinking_score", thoughts, total_tokens)
  if len(final_correct) != len(thoughts):
    raise ValueError(f"underthinking_score: {len(final_correct)} verdicts for "
                     f"{len(thoughts)} responses")
  scores = []
  for i, (ts, total, ok) in enumerate(zip(thoughts, total_tokens, final_correct)):
    end = first_correct_end(ts, total, f"underthinking_score: response {i}")
    if not ok:
      scores.append(0.0 if end is None else 1.0 - end / total)
  return float(np.mean(scores)) if scores else math.nan
