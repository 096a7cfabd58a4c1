"""R1 template checks: reasoning in <think>...</think>, then the answer in <answer>...</answer>.

All checks use `str.find`/`str.count` (linear, no backtracking regex), so a megabyte of
adversarial tags costs milliseconds. `think_in_prompt=True` is for templates whose prompt ends
with "<think>": the completion then starts inside the reasoning block.
"""
from __future__ import annotations

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)


def _with_prompt_tag(completion: str, think_in_prompt: bool) -> str:
  return THINK_OPEN + completion if think_in_prompt else completion


def strict(completion: str, think_in_prompt: bool = False) -> float:
  """1.0 iff the completion is exactly `<think>R</think> <answer>A</answer>` (whitespace
  around and between the blocks allowed), each tag once, R and A not blank; else 0.0."""
  s = _with_prompt_tag(completion, think_in_prompt).strip()
  if any(s.count(tag) != 1 for tag in TAGS):
    return 0.0
  if not (s.startswith(THINK_OPEN) and s.endswith(ANSWER_CLOSE)):
    return 0.0
  think_end, answer_start = s.find(THINK_CLOSE), s.find(ANSWER_OPEN)
  if answer_start < think_end or s[think_end + len(THINK_CLOSE):answer_start].strip():
    return 0.0
  reasoning = s[len(THINK_OPEN):think_end]
  answer = s[answer_start + len(ANSWER_OPEN):-len(ANSWER_CLOSE)]
  return float(bool(reasoning.strip()) and bool(answer.strip()))


def lenient(completion: str, think_in_prompt: bool = False) -> float:
  """1.0 iff a think block is followed by a non-blank answer block, anywhere in the text."""
  s = _with_prompt_tag(completion, think_in_prompt)
  think_start = s.find(THINK_OPEN)
  think_end = s.find(THINK_CLOSE, think_start + 1) if think_start >= 0 else -1
  answer_start = s.find(ANSWER_OPEN, think_end + 1) if think_end >= 0 else -1
  answer_end = s.find(ANSWER_CLOSE, answer_start + 1) if answer_start >= 0 else -1
  if answer_end < 0:
    return 0.0
  return float(bool(s[answer_start + len(ANSWER_OPEN):answer_end].strip()))


def tag_count(completion: str, think_in_prompt: bool = False) -> float:
  """Partial credit: 0.25 for each of the four tags that occurs exactly once."""
  s = _with_prompt_tag(completion, think_in_prompt)
  return 0.25 * sum(s.count(tag) == 1 for tag in TAGS)
