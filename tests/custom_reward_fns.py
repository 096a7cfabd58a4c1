"""User rewards named by import path in the custom-reward tests (not a test module)."""
from r1jax.rewards.registry import RewardOutput


def digit_share(completion: str, example: dict) -> float:
  """Share of the completion's characters that are digits of the example's answer."""
  answer = set(str(example["answer"]))
  return sum(c in answer for c in completion) / max(len(completion), 1)


def tokens_and_steps(completion: str, example: dict, num_tokens: int) -> RewardOutput:
  del example
  return RewardOutput(num_tokens / 100.0, [(len(completion), 0.5)])


def always_raises(completion: str, example: dict) -> float:
  raise RuntimeError(f"no grader for {len(completion)} characters")


def ends_at_stop(completion: str, example: dict) -> float:
  """1.0 when nothing follows the first '</answer>' (or there is none), else 0.0."""
  del example
  head, sep, tail = completion.partition("</answer>")
  return 0.0 if sep and tail else 1.0


def has_stop(completion: str, example: dict) -> float:
  del example
  return float("</answer>" in completion)
