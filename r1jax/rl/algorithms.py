"""Online RL algorithms as registry entries: an advantage estimator + a policy loss + options.

One trainer runs them all (r1jax/train/rl_trainer.py); an algorithm is only a choice of
registry names and defaults, never a forked loop. Config fields left as None take these
defaults; set them in the config to override (e.g. `--config.rl.eps_high=0.28`).

| name         | advantage    | loss     | aggregation              | notes                      |
|--------------|--------------|----------|--------------------------|----------------------------|
| grpo         | grpo         | ppo_clip | seq_mean_token_mean      | DeepSeekMath / R1          |
| dr_grpo      | dr_grpo      | ppo_clip | seq_mean_token_sum_norm  | no std, no 1/|o_i|         |
| dapo         | grpo         | ppo_clip | token_mean               | clip-higher, dynamic samp. |
| gspo         | grpo         | gspo     | seq_mean_token_mean      | sequence-level ratio       |
| rloo         | rloo         | ppo_clip | token_mean               | leave-one-out; KL in reward|
| reinforce_pp | reinforce_pp | ppo_clip | token_mean               | KL folded into the reward  |
| ppo          | gae          | ppo_clip | token_mean               | value model, GAE; KL in rwd|

`kl_in_reward` is only the default placement of the KL penalty (`config.rl.kl_placement`
chooses for any algorithm): RLOO, REINFORCE++ and PPO put it in the reward in their papers.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Algorithm:
  advantage: str
  policy_loss: str
  aggregation: str
  eps_low: float = 0.2
  eps_high: float = 0.2
  kl_in_reward: bool = False  # Default KL placement: the reward (True) or the loss.
  dynamic_sampling: bool = False  # DAPO: groups with all-equal rewards get no gradient.
  critic: bool = False  # Needs a value head (PPO).
  min_group_size: int = 2  # Group baselines need >= 2 samples per prompt.


ALGORITHMS: dict[str, Algorithm] = {
    "grpo": Algorithm("grpo", "ppo_clip", "seq_mean_token_mean"),
    "dr_grpo": Algorithm("dr_grpo", "ppo_clip", "seq_mean_token_sum_norm"),
    "dapo": Algorithm("grpo", "ppo_clip", "token_mean", eps_low=0.2, eps_high=0.28,
                      dynamic_sampling=True),
    # GSPO clips the length-normalised sequence ratio, which stays very close to 1.
    "gspo": Algorithm("grpo", "gspo", "seq_mean_token_mean", eps_low=3e-4, eps_high=4e-4),
    "rloo": Algorithm("rloo", "ppo_clip", "token_mean", kl_in_reward=True),
    "reinforce_pp": Algorithm("reinforce_pp", "ppo_clip", "token_mean", kl_in_reward=True,
                              min_group_size=1),
    "ppo": Algorithm("gae", "ppo_clip", "token_mean", kl_in_reward=True, critic=True,
                     min_group_size=1),
}


def get_algorithm(name: str) -> Algorithm:
  if name not in ALGORITHMS:
    raise ValueError(f"rl.algorithm: unknown algorithm {name!r}; choose one of "
                     f"{sorted(ALGORITHMS)}")
  return ALGORITHMS[name]
