"""Checks that catch a wrong RL step: direction, scoring = sampling, alignment, options.

Each drives the trainer's own pieces (rl_harness builds them with the trainer's functions)
or a whole run, and fails on a specific, plausible bug: a negated advantage, scoring one
token late, rollouts graded against another prompt's answer, an option that does nothing.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rl_harness
from r1jax import sharding
from r1jax.data import pipeline, sources
from r1jax.eval.evaluate import example_keys
from r1jax.rl.algorithms import ALGORITHMS
from r1jax.sampling.sampler import STOP_LENGTH
from r1jax.train import rl_phases, rl_step, rl_trainer
from r1jax.train import setup as setup_lib


def _prompt_batch(h, n=8, seed=0):
  c = h.config
  src = sources.get_source(c.data.source, None, "train", c.data.template, **dict(c.data.knobs))
  return pipeline.RLPromptPipeline(src, n, h.tok, c.data.max_prompt_len, seed).next()


def _rollout(h, seed=0):
  rows = sharding.batch_sharding(h.mesh, 2)
  with h.ctx():
    return rl_phases.rollout(h.sampler, h.state.params, _prompt_batch(h, seed=seed), 0, 0,
                             h.config.sampler.group_size, rows)


def _score(h, params, roll):
  with h.ctx():
    seqs = h.fns.sequences(roll.prompts_BxP, roll.prompt_mask_BxP, roll.tokens_NxT,
                           roll.mask_NxT)
    logp, values = h.fns.score(params, h.state.value_params, *seqs)
  return seqs, logp, values


# --------------------------------------------------------------------------------- Direction.
@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_update_moves_logprobs_along_the_advantage(algorithm):
  """One update on sampled rollouts with positive and negative advantages raises the
  log-probs of the positive ones and lowers the negative ones: sum A * delta-logp > 0 (and
  each sign's mean moves its way). A negated advantage anywhere in the update fails it."""
  cfg = rl_harness.tiny_config(**{"rl.algorithm": algorithm, "optim.lr": 1e-2})
  h = rl_harness.build(cfg)
  roll = _rollout(h)
  seqs, old, values = _score(h, h.state.params, roll)
  N, T = old.shape
  mask = np.asarray(rl_phases.loss_mask(roll, cfg))
  adv_N = np.where(np.arange(N) % 2 == 0, 1.0, -1.0).astype(np.float32)
  adv = adv_N[:, None] * mask
  batch = rl_step.Rollouts(*seqs, jnp.asarray(mask), old, old, jnp.asarray(adv),
                           jnp.zeros((N, T)), values)
  with h.ctx():
    state, _ = h.fns.update(jax.tree.map(jnp.copy, h.state), batch, None)
  _, new, _ = _score(h, state.params, roll)
  delta = (np.asarray(new) - np.asarray(old)) * mask
  assert float(np.sum(adv * delta)) > 0
  pos, neg = delta[adv_N > 0].sum() / mask[adv_N > 0].sum(), delta[adv_N < 0].sum() / mask[
      adv_N < 0].sum()
  assert pos > 0 > neg, (pos, neg)


# -------------------------------------------------------------------- Scoring equals sampling.
def test_scoring_reproduces_the_samplers_logprobs():
  """At temperature 1 the trainer's scoring of sampled rollouts is the sampler's raw
  log-prob of every emitted token (float32: decode with a KV cache vs one full forward,
  atol 1e-4). Scoring one token late (or early) is off by whole nats."""
  h = rl_harness.build(rl_harness.tiny_config())
  roll = _rollout(h)
  _, logp, _ = _score(h, h.state.params, roll)
  # The sampler's own log-probs are not in Rollout; sample again with the same keys.
  batch = _prompt_batch(h)
  with h.ctx():
    out = h.sampler(h.state.params, batch.prompt_tokens_BxP, batch.prompt_mask_BxP,
                    jax.random.key_data(example_keys(0, 1, batch.examples)))
  np.testing.assert_array_equal(np.asarray(out.tokens_NxT), np.asarray(roll.tokens_NxT))
  m = np.asarray(out.mask_NxT).astype(bool)
  assert m.sum() > 50
  np.testing.assert_allclose(np.asarray(logp)[m], np.asarray(out.raw_logprobs_NxT)[m],
                             atol=1e-4)


# --------------------------------------------------------------------------------- Alignment.
@pytest.mark.parametrize("workers", [0, 2])
def test_every_rollout_is_graded_against_its_own_prompt(workers):
  """Rows come group-contiguous (row i answers prompt i // G). Completions written from the
  prompt row itself (the answer of the example whose prompt text that row holds) all score
  1, in-process and in the reward pool; a strided or shifted pairing of rows and examples
  would score them against other answers."""
  cfg = rl_harness.tiny_config()
  cfg.rewards.format_tags = 0.0
  h = rl_harness.build(cfg)
  batch = _prompt_batch(h)
  by_prompt = {}
  for e in batch.examples:
    by_prompt.setdefault(e["prompt"], set()).add(e["answer"])
  roll = _rollout(h)
  G, T = cfg.sampler.group_size, cfg.sampler.max_new_tokens
  prompts = np.asarray(roll.prompts_BxP)
  pmask = np.asarray(roll.prompt_mask_BxP).astype(bool)
  tokens = np.zeros((len(roll.examples), T), np.int32)
  lengths = np.zeros(len(roll.examples), np.int32)
  answers = []
  for i in range(len(roll.examples)):
    text = h.tok.decode(prompts[i // G][pmask[i // G]])
    (answer,) = by_prompt[text]  # The example this prompt row really came from.
    answers.append(answer)
    ids = h.tok.encode(f"<answer>{answer}</answer>")
    tokens[i, :len(ids)], lengths[i] = ids, len(ids)
  assert len(set(answers)) > 2
  roll = roll._replace(host={**roll.host, "tokens": tokens, "lengths": lengths})
  specs = setup_lib.reward_specs(cfg)
  if workers:
    from r1jax.rewards.pool import RewardPool  # pylint: disable=g-import-not-at-top
    with RewardPool(workers) as pool:
      graded = rl_phases.grade(h.tok, roll, specs, pool, 5.0)
  else:
    graded = rl_phases.grade(h.tok, roll, specs, None, 5.0)
  np.testing.assert_array_equal(graded.per_reward["math_accuracy"], 1.0)


# ------------------------------------------------------------------ Options change something.
_train_rows = rl_harness.train_rows


def test_num_iterations_reuses_rollouts_off_policy(tmp_path):
  """A second pass over the same rollouts sees a moved policy: ratios leave 1."""
  one, two = tmp_path / "one", tmp_path / "two"
  rl_trainer.train_and_evaluate(rl_harness.tiny_config(**{"total_steps": 1}), str(one))
  rl_trainer.train_and_evaluate(
      rl_harness.tiny_config(**{"total_steps": 1, "rl.num_iterations": 2}), str(two))
  (a,), (b,) = _train_rows(one), _train_rows(two)
  assert a["train/approx_kl"] < 1e-8 and b["train/approx_kl"] > 1e-6
  assert b["train/ratio_max"] > 1.0 + 1e-4


def test_ref_reset_and_kl(tmp_path):
  """kl_coef > 0 scores a reference; ref_reset_every=1 makes it the policy again after each
  step, so step 2's KL (measured before its update) is exactly the reset policy's: 0."""
  base = {"rl.kl_coef": 0.1, "rl.kl_placement": "loss", "optim.lr": 1e-2}
  keep, reset = tmp_path / "keep", tmp_path / "reset"
  rl_trainer.train_and_evaluate(rl_harness.tiny_config(**base), str(keep))
  rl_trainer.train_and_evaluate(rl_harness.tiny_config(**base, **{"rl.ref_reset_every": 1}),
                                str(reset))
  k, r = _train_rows(keep), _train_rows(reset)
  assert k[0]["kl"] == pytest.approx(r[0]["kl"])  # Step 1: both references are the start.
  assert k[1]["kl"] > 1e-5 and r[1]["kl"] < 1e-7, (k[1]["kl"], r[1]["kl"])
  assert k[1]["train/kl_loss"] > 0


def test_entropy_bonus_and_dual_clip_reach_the_loss(tmp_path):
  cfg = rl_harness.tiny_config(**{"rl.entropy_coef": 0.05, "rl.dual_clip_c": 3.0,
                                  "total_steps": 1})
  assert rl_phases.loss_config(cfg, ALGORITHMS["grpo"]).dual_clip_c == 3.0
  rl_trainer.train_and_evaluate(cfg, str(tmp_path))
  (r,) = _train_rows(tmp_path)
  assert r["train/entropy"] > 0.1
  # The bonus is -coef * aggregated entropy (seq-mean-token-mean for GRPO).
  assert r["train/entropy_loss"] == pytest.approx(-0.05 * r["train/entropy"], rel=0.2)
  assert r["train/entropy_loss"] < 0


def test_overlong_filter_masks_truncated_rows():
  cfg = rl_harness.tiny_config(**{"rl.overlong_filter": True, "sampler.max_new_tokens": 6})
  h = rl_harness.build(cfg)
  roll = _rollout(h)
  mask = np.asarray(rl_phases.loss_mask(roll, cfg))
  truncated = roll.host["stop"] == STOP_LENGTH
  assert truncated.any() and (~truncated).any()
  assert np.all(mask[truncated] == 0)
  np.testing.assert_array_equal(mask[~truncated].sum(1), roll.host["lengths"][~truncated])


def test_reward_workers_grade_like_the_trainer_process(tmp_path):
  inproc, pooled = tmp_path / "inproc", tmp_path / "pooled"
  rl_trainer.train_and_evaluate(rl_harness.tiny_config(**{"total_steps": 1}), str(inproc))
  rl_trainer.train_and_evaluate(
      rl_harness.tiny_config(**{"total_steps": 1, "reward_workers": 2}), str(pooled))
  (a,), (b,) = _train_rows(inproc), _train_rows(pooled)
  for k in ("reward/total", "reward/math_accuracy", "reward/format_tags", "loss"):
    assert a[k] == b[k], k
