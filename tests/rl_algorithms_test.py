"""The algorithm registry: every entry names estimators and losses that exist; bad names fail
with the config field, the name and the choices."""
import pytest

from r1jax.rl import advantages, algorithms, losses


@pytest.mark.parametrize("name", sorted(algorithms.ALGORITHMS))
def test_every_algorithm_names_registered_pieces(name):
  algo = algorithms.get_algorithm(name)
  assert algo.advantage in advantages.ADVANTAGES
  assert algo.policy_loss in losses.POLICY_LOSSES
  assert algo.aggregation in losses.AGGREGATIONS
  assert 0 < algo.eps_low <= algo.eps_high < 1
  assert algo.critic == (algo.advantage == "gae")  # GAE reads the critic's values.


def test_an_unknown_algorithm_names_the_field_and_the_choices():
  with pytest.raises(ValueError, match=r"rl\.algorithm: unknown algorithm 'grpo2'; choose one "
                     r"of \['dapo', 'dr_grpo', 'grpo', 'gspo', 'ppo', 'reinforce_pp', 'rloo'\]"):
    algorithms.get_algorithm("grpo2")
