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
