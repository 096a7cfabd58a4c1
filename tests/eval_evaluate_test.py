"""The one evaluator: what it reads from config.eval, its padding of the last batch, its
pass@1 against grading its own completions, and the run's sharding rules on a mesh."""
import jax
import numpy as np
import recipe_toy
from jax.sharding import Mesh

from r1jax import sharding
from r1jax.eval.evaluate import Evaluator
from r1jax.rewards import registry
from r1jax.train.defaults import base_config


def _config(**eval_fields):
  c = base_config()
  c.sampler.max_new_tokens = 12
  c.seed = 3
  c.eval.update(dict(k=4, k_problems=4, temperature=0.7, batch_size=8), **eval_fields)
  return c


def test_from_config_reads_the_eval_section():
  c = _config()
  ev = Evaluator.from_config(c, recipe_toy.MODEL, recipe_toy.TOKENIZER,
                             recipe_toy.examples("train", 6))
  assert ev.greedy.cfg.temperature == 0.0 and ev.greedy.cfg.n == 1
  assert ev.sampled.cfg.temperature == 0.7 and ev.sampled.cfg.n == 4
  assert ev.greedy.cfg.max_new_tokens == 12
  assert (ev.batch_size, ev.k, ev.seed, len(ev.k_examples)) == (8, 4, 3, 4)
  assert ev.spec.name == "math_accuracy"
  assert Evaluator.from_config(_config(k=0), recipe_toy.MODEL, recipe_toy.TOKENIZER,
                               recipe_toy.examples("train", 2)).sampled is None


def test_pass_at_1_grades_its_own_completions_whatever_the_batching():
  params = recipe_toy.trained_params()
  examples = recipe_toy.examples("train", 12)
  # 12 problems in batches of 8 (the last one padded) and of 4 (no padding): same answers.
  results = [Evaluator.from_config(_config(batch_size=bs), recipe_toy.MODEL,
                                   recipe_toy.TOKENIZER, examples).evaluate(params)
             for bs in (8, 4)]
  assert results[0].metrics == results[1].metrics
  m = results[0].metrics
  assert m["eval/num_problems"] == 12.0
  assert 0.0 < m["eval/pass@1"] <= 1.0  # The trained toy gets some right (not all zeros).
  # The shown samples are graded by the same reward, one at a time.
  for s in results[0].samples:
    one = registry.grade_batch([s["completion"]], [{"answer": s["answer"]}],
                               [registry.RewardSpec("math_accuracy", 1.0, {})])
    assert bool(registry.is_correct(one.total)[0]) == s["correct"]
  assert m["eval/pass@4"] >= m["eval/sampled_pass@1"]
  assert m["eval/pass@4"] >= m["eval/maj@4"]


def test_samplers_use_the_runs_rules_on_a_mesh():
  # Custom rules (embeddings not split over fsdp) must reach the evaluator's samplers, or
  # params placed by them meet samplers compiled for the defaults.
  mesh = Mesh(np.array(jax.devices()[:8]).reshape(2, 4, 1), sharding.MESH_AXES)
  rules = sharding.rules_from_config([["embed", None], ["batch", ["data", "fsdp"]]])
  ev = Evaluator.from_config(_config(), recipe_toy.MODEL, recipe_toy.TOKENIZER,
                             recipe_toy.examples("train", 8), mesh, rules=rules)
  assert ev.greedy.rules == rules and ev.sampled.rules == rules
