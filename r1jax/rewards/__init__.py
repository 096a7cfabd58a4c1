"""r1jax.rewards: rule-based rewards (math, format, Countdown, dense steps, length, language).

Pure Python on the host. Rewards are chosen by name (`REWARDS`) and graded in batches by
`grade_batch`, optionally on a `RewardPool` of worker processes.
"""
from r1jax.rewards.pool import RewardPool
from r1jax.rewards.registry import BatchRewards
from r1jax.rewards.registry import grade_batch
from r1jax.rewards.registry import get_reward
from r1jax.rewards.registry import REWARDS
from r1jax.rewards.registry import RewardOutput
from r1jax.rewards.registry import RewardSpec
