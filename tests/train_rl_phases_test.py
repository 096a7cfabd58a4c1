"""The RL core through the trainer's own jitted steps (rl_phases.build_step_fns) and runs.

One test per RL-core defect: dense advantages with a step mask, sampling temperature in the
scored log-probs, the PPO critic's isolation from the policy, KL placement, exact zeros for
constant groups, gradient-accumulation invariance, DAPO refill, budget-forced tokens.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rl_harness
from r1jax.eval.evaluate import example_keys
from r1jax.rewards import registry as rewards_registry
from r1jax.train import rl_phases, rl_step, rl_trainer
from r1jax.train import setup as setup_lib


_train_rows = rl_harness.train_rows


# ------------------------------------------------------------------ 1. Dense (process) advantages.
def test_process_advantages_follow_deepseekmath_process_supervision():
  """Three completions with correct and wrong steps, graded and placed by the trainer's own
  functions: each token's advantage is the sum of the group-normalised rewards of the steps
  ending at or after it (wrong steps count, with reward 0)."""
  cfg = rl_harness.tiny_config(**{"rl.advantage": "process", "rewards.process_steps": 1.0,
                                  "rl.add_outcome": False, "sampler.group_size": 3})
  h = rl_harness.build(cfg)
  texts = ["1+1=2\n2+3=5\n", "1+1=3\n3+3=6\n", "2+2=4\n4+4=9\n"]
  T = cfg.sampler.max_new_tokens
  tokens = np.zeros((3, T), np.int32)
  for i, t in enumerate(texts):
    tokens[i, :len(t)] = h.tok.encode(t)
  lengths = np.array([len(t) for t in texts])
  graded = rewards_registry.grade_batch(texts, [{"answer": "5"}] * 3,
                                        setup_lib.reward_specs(cfg), num_tokens=lengths)
  step_r, step_m = rl_phases.place_step_rewards(h.tok, tokens, lengths, graded.steps, T)
  mask = (np.arange(T)[None] < lengths[:, None]).astype(np.float32)
  zeros = np.zeros((3, T), np.float32)
  adv, _, _, metrics = h.fns.advantages(graded.total, mask, zeros, zeros, zeros, step_r,
                                        step_m)
  # By hand: step rewards [1, 1], [0, 1], [1, 0], ending at characters 5 and 11 (tokens 4, 10).
  r = np.array([[1, 1], [0, 1], [1, 0]], np.float64)
  norm = (r - r.mean()) / (r.std(ddof=1) + 1e-6)
  want = np.zeros((3, T))
  for i in range(3):
    want[i, :5] = norm[i, 0] + norm[i, 1]
    want[i, 5:11] = norm[i, 1]
  np.testing.assert_allclose(np.asarray(adv), want, atol=1e-5)
  within = np.mean([want[i, :lengths[i]].std() for i in range(3)])
  assert within > 0.4
  np.testing.assert_allclose(float(metrics["within_completion_std"]), within, rtol=1e-4)


def test_process_advantage_needs_a_dense_reward():
  with pytest.raises(setup_lib.ConfigError, match="config.rl.advantage"):
    setup_lib.validate_config(rl_harness.tiny_config(**{"rl.advantage": "process"}))


# ------------------------------------------------------------------------ 4. Temperature.
@pytest.mark.parametrize("temperature", [0.6, 2.0])
def test_scoring_uses_the_sampling_temperature(temperature):
  """At T=0.6 and T=2 the trainer's scoring of sampled rollouts reproduces the sampler's own
  log-probs (float32, atol 2e-4) and differs from the raw (T=1) distribution. (2.0 too: a
  scorer that tested `temperature != 2.0` before dividing survived every test at 0.6.)"""
  cfg = rl_harness.tiny_config(**{"sampler.temperature": temperature})
  h = rl_harness.build(cfg)
  from r1jax.data import pipeline, sources  # pylint: disable=g-import-not-at-top
  src = sources.get_source("arith", None, "train", "plain", **dict(cfg.data.knobs))
  batch = pipeline.RLPromptPipeline(src, 8, h.tok, cfg.data.max_prompt_len, 0).next()
  with h.ctx():
    keys = jax.random.key_data(example_keys(0, 1, batch.examples))
    out = h.sampler(h.state.params, batch.prompt_tokens_BxP, batch.prompt_mask_BxP, keys)
    seqs = h.fns.sequences(batch.prompt_tokens_BxP, batch.prompt_mask_BxP, out.tokens_NxT,
                           out.mask_NxT)
    logp, _ = h.fns.score(h.state.params, None, *seqs)
  m = np.asarray(out.mask_NxT).astype(bool)
  np.testing.assert_allclose(np.asarray(logp)[m], np.asarray(out.logprobs_NxT)[m], atol=2e-4)
  assert np.max(np.abs(np.asarray(logp)[m] - np.asarray(out.raw_logprobs_NxT)[m])) > 0.05


@pytest.mark.parametrize("field,value", [("sampler.top_p", 0.9), ("sampler.top_k", 5),
                                         ("sampler.min_p", 0.05), ("sampler.temperature", 0.0)])
def test_truncated_or_greedy_rollouts_are_refused(field, value):
  with pytest.raises(setup_lib.ConfigError, match=f"config.{field}"):
    setup_lib.validate_config(rl_harness.tiny_config(**{field: value}))
  if field != "sampler.temperature":  # Opting in is allowed.
    setup_lib.validate_config(rl_harness.tiny_config(
        **{field: value, "rl.allow_truncated_sampling": True}))


# ------------------------------------------------------------------- Batches for the update.
def _batch(h, seed=0, filtered=True, left_pad=False):
  """Random rollouts of the config's shape; some rows filtered out, lengths all different;
  `left_pad`: prompts left-padded by 0-3 tokens, as the sampler's batches are."""
  cfg = h.config
  rng = np.random.default_rng(seed)
  B, G, T, P = cfg.prompts_per_step, cfg.sampler.group_size, cfg.sampler.max_new_tokens, 6
  V = h.tok.vocab_size
  prompts = rng.integers(3, V, (B, P)).astype(np.int32)
  pmask = np.ones((B, P), bool)
  if left_pad:
    pmask = np.arange(P)[None] >= (np.arange(B) % 4)[:, None]
  comp = rng.integers(3, V, (B * G, T)).astype(np.int32)
  lengths = rng.integers(1, T + 1, B * G)
  cmask = (np.arange(T)[None] < lengths[:, None]).astype(np.int32)
  mask = cmask.astype(np.float32)
  if filtered:
    mask[[1, 5, 6, 7]] = 0.0  # Rows the filters dropped: weights of the others must not move.
  with h.ctx():
    tokens, seg, pos = h.fns.sequences(prompts, pmask, comp, cmask)
    old, values = h.fns.score(h.state.params, h.state.value_params, tokens, seg, pos)
  adv = rng.normal(size=(B * G, T)).astype(np.float32) * mask
  ref = np.asarray(old) + rng.normal(size=old.shape).astype(np.float32) * 0.1
  returns = rng.normal(size=(B * G, T)).astype(np.float32)
  return rl_step.Rollouts(tokens, seg, pos, jnp.asarray(mask), old, jnp.asarray(ref),
                          jnp.asarray(adv), jnp.asarray(returns), values)


def _off_zero_value_head(h):
  """The harness with its value params moved off their init (the head's is all zeros, which
  passes no gradient to the trunk and makes every value 0)."""
  noisy = jax.tree.map(lambda x: x + 0.5 * jax.random.normal(jax.random.key(7), x.shape),
                       h.state.value_params)
  return h._replace(state=h.state.replace(value_params=noisy))


def _update(h, batch):
  with h.ctx():
    state, metrics = h.fns.update(jax.tree.map(jnp.copy, h.state), batch, None)
  return rl_harness.host(state), rl_harness.host(metrics)


# ------------------------------------------------------------ 8. Gradient accumulation.
@pytest.mark.parametrize("algorithm", ["grpo", "dr_grpo", "dapo", "ppo"])
def test_grad_accum_gives_the_same_update(algorithm):
  """One optimizer step with grad_accum 1 and 4 on the same batch (rows of unequal length,
  filtered rows present): the same update, float32 (rtol 1e-4, atol 1e-6 on params), and the
  same metrics, every one of them (rtol 1e-5: float32 sums in another order). SGD without
  clipping, so the update is the gradient itself (Adam's first step would hide a
  reweighting)."""
  over = {"rl.algorithm": algorithm, "optim.name": "sgd", "optim.b1": 0.0,
          "optim.grad_clip": 0.0, "optim.lr": 1.0, "rl.kl_coef": 0.05,
          "rl.kl_placement": "loss", "rl.entropy_coef": 0.01}
  h1 = rl_harness.build(rl_harness.tiny_config(**over, **{"rl.grad_accum": 1}))
  h4 = rl_harness.build(rl_harness.tiny_config(**over, **{"rl.grad_accum": 4}))
  if algorithm == "ppo":  # A value head that is not all zeros, so explained_var means something.
    h1, h4 = _off_zero_value_head(h1), _off_zero_value_head(h4)
  batch = _batch(h1)
  # The last of the 4 microbatches (rows 24-31) filtered out whole: it must add exactly nothing,
  # to the gradient or to any metric (extremes included).
  empty = (np.arange(batch.mask_NxT.shape[0]) < 24)[:, None]
  # Old log-probs off the current ones (read where the old pass runs: ppo here), so the
  # ratios and their extremes differ from microbatch to microbatch.
  noise = np.random.default_rng(9).normal(size=batch.old_logp_NxT.shape).astype(np.float32)
  batch = batch._replace(mask_NxT=batch.mask_NxT * empty,
                         advantages_NxT=batch.advantages_NxT * empty,
                         old_logp_NxT=batch.old_logp_NxT + 0.1 * noise)
  s1, m1 = _update(h1, batch)
  s4, m4 = _update(h4, batch)
  p0 = rl_harness.host(h1.state.params)
  for a, b, c in zip(jax.tree.leaves(s1.params), jax.tree.leaves(s4.params), jax.tree.leaves(p0)):
    np.testing.assert_allclose(np.asarray(b) - c, np.asarray(a) - c, rtol=1e-4, atol=1e-6)
  assert set(m4) == set(m1)
  for k in m1:  # Sums, extremes, token means and the spreads (adv_std, explained_var).
    np.testing.assert_allclose(m4[k], m1[k], rtol=1e-5, atol=1e-7, err_msg=k)
  assert m4["num_tokens"] == m1["num_tokens"] == float(np.sum(np.asarray(batch.mask_NxT)))
  assert m1["adv_std"] > 0.5 and (algorithm != "ppo" or m1["explained_var"] != 0.0)
  if algorithm == "ppo":
    assert m1["ratio_min"] < 0.95 and m1["ratio_max"] > 1.05
  # SGD at lr 1 without clipping: the step is minus the gradient, so grad_norm is its norm.
  step_norm = np.sqrt(sum(np.sum((np.asarray(a, np.float64) - c) ** 2)
                          for a, c in zip(jax.tree.leaves(s1.params), jax.tree.leaves(p0))))
  assert step_norm > 1e-3
  np.testing.assert_allclose(m1["grad_norm"], step_norm, rtol=1e-4)
  # The state counts optimizer steps (saved in checkpoints), however many microbatches, and
  # carries the optimizer's own state forward (its schedule's step count, here).
  assert int(s1.step) == int(s4.step) == int(h1.state.step) + 1
  before = jax.tree.leaves(rl_harness.host(h1.state.opt_state))
  assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(s1.opt_state), before))


def test_grad_accum_metrics_of_a_single_real_token():
  """The smallest batch that trains: one real token, in the third of 4 microbatches. Its
  metrics are that token's own, with grad_accum 4 as with 1 (token weights of 1, not 1/2);
  and a batch with no real token reports finite zeros."""
  over = {"optim.name": "sgd", "optim.b1": 0.0, "optim.grad_clip": 0.0, "optim.lr": 1.0}
  h1 = rl_harness.build(rl_harness.tiny_config(**over, **{"rl.grad_accum": 1}))
  h4 = rl_harness.build(rl_harness.tiny_config(**over, **{"rl.grad_accum": 4}))
  batch = _batch(h1, filtered=False)
  one = np.zeros(batch.mask_NxT.shape, np.float32)
  one[18, 0] = 1.0
  batch = batch._replace(mask_NxT=jnp.asarray(one), advantages_NxT=batch.advantages_NxT * one)
  _, m1 = _update(h1, batch)
  _, m4 = _update(h4, batch)
  assert m1["num_tokens"] == m4["num_tokens"] == 1.0
  for k in m1:
    np.testing.assert_allclose(m4[k], m1[k], rtol=1e-5, atol=1e-7, err_msg=k)
  assert abs(float(m1["adv_mean"]) - float(batch.advantages_NxT[18, 0])) < 1e-6
  # On-policy (one pass): the token's ratio is exactly 1, its own min and max.
  assert m1["ratio_min"] == m1["ratio_max"] == m4["ratio_min"] == m4["ratio_max"] == 1.0
  assert all(np.isfinite(v) for v in m4.values())
  # No real token at all (every completion overlong-filtered, say): the extremes of an empty
  # minibatch are 0, like its other metrics, never +-inf or the on-policy ratio 1.
  empty = batch._replace(mask_NxT=jnp.zeros_like(batch.mask_NxT),
                         advantages_NxT=jnp.zeros_like(batch.advantages_NxT))
  for h in (h1, h4):
    _, m = _update(h, empty)
    assert m["num_tokens"] == 0.0
    assert m["ratio_min"] == m["ratio_max"] == 0.0, (m["ratio_min"], m["ratio_max"])
    assert all(np.isfinite(v) for v in m.values()), m


# ---------------------------------------------------------------------------- 5. PPO critic.
@pytest.mark.parametrize("critic", ["shared", "separate"])
def test_value_loss_never_moves_the_policy(critic):
  """With zero advantages the policy gradient is zero, so only the value loss acts: the
  policy must not move, the value model must. The value head starts away from its zero
  init: a zero head passes no gradient back to the shared trunk, with or without the
  stop-gradient this test is about."""
  cfg = rl_harness.tiny_config(**{"rl.algorithm": "ppo", "rl.critic": critic,
                                  "optim.name": "sgd", "optim.lr": 1.0, "rl.value_lr": 1e-2})
  h = _off_zero_value_head(rl_harness.build(cfg))
  batch = _batch(h)._replace(advantages_NxT=jnp.zeros_like(_batch(h).advantages_NxT))
  state, metrics = _update(h, batch)
  assert metrics["vf_loss"] > 0
  for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(rl_harness.host(h.state.params))):
    np.testing.assert_array_equal(a, b)
  moved = [not np.array_equal(a, b) for a, b in
           zip(jax.tree.leaves(state.value_params),
               jax.tree.leaves(rl_harness.host(h.state.value_params)))]
  assert all(moved) if critic == "shared" else any(moved)
  if critic == "separate":
    assert "trunk" in state.value_params


def test_the_updates_value_loss_is_the_clipped_one_and_the_critic_descends_it():
  """PPO through the trainer's jitted update, advantages 0 so only the value loss acts, with
  value clipping that binds (old values 0.3 off the current ones, vf_clip 0.1) and Dr. GRPO's
  aggregation at a norm_len of 2 T: vf_loss equals a float64 NumPy reference (rtol 1e-5),
  the reported loss is vf_coef * vf_loss, and the critic's step lowers its loss."""
  over = {"rl.algorithm": "ppo", "rl.vf_clip": 0.1, "rl.vf_coef": 0.5,
          "rl.aggregation": "seq_mean_token_sum_norm", "rl.norm_len": 32, "rl.value_lr": 1e-4}
  h = rl_harness.build(rl_harness.tiny_config(**over))
  T = h.config.sampler.max_new_tokens
  assert T == 16
  b = _batch(h)
  v = np.asarray(b.old_values_NxT, np.float64)  # The current critic's values (scored).
  rng = np.random.default_rng(7)
  old = v + rng.choice([-0.3, 0.3], size=v.shape)
  ret = np.asarray(b.returns_NxT, np.float64)
  m = np.asarray(b.mask_NxT) > 0
  b = b._replace(old_values_NxT=jnp.asarray(old, jnp.float32),
                 advantages_NxT=jnp.zeros_like(b.advantages_NxT))

  def ref_loss(values):
    clipped = old + np.clip(values - old, -0.1, 0.1)
    per_token = np.maximum((values - ret) ** 2, (clipped - ret) ** 2)
    return 0.5 * np.sum(np.where(m, per_token, 0.0)) / (32 * m.shape[0])

  state, metrics = _update(h, b)
  np.testing.assert_allclose(metrics["vf_loss"], ref_loss(v), rtol=1e-5)
  unclipped = 0.5 * np.sum(np.where(m, (v - ret) ** 2, 0.0)) / (32 * m.shape[0])
  assert abs(ref_loss(v) - unclipped) > 1e-3 * unclipped  # The clip binds.
  np.testing.assert_allclose(metrics["loss"], 0.5 * metrics["vf_loss"], rtol=1e-5, atol=1e-7)
  with h.ctx():
    _, new_values = h.fns.score(state.params, state.value_params, b.tokens_NxL, b.segment_NxL,
                                b.positions_NxL)
  assert ref_loss(np.asarray(new_values, np.float64)) < ref_loss(v)
  # The critic's AdamW moments and count move on with it.
  before = jax.tree.leaves(rl_harness.host(h.state.value_opt_state))
  assert any(not np.array_equal(a, b)
             for a, b in zip(jax.tree.leaves(state.value_opt_state), before))


@pytest.mark.parametrize("critic", ["shared", "separate"])
def test_the_scoring_pass_returns_the_critics_values(critic):
  """The old values that GAE and the value clip read are the critic's, from the trainer's
  jitted scoring pass: against the value head on the policy's hidden states (shared) or the
  critic's own model (separate), applied directly. The head starts at zero, so a fresh critic
  gives zeros either way: its params are perturbed first."""
  cfg = rl_harness.tiny_config(**{"rl.algorithm": "ppo", "rl.critic": critic})
  h = rl_harness.build(cfg)
  rng = np.random.default_rng(5)
  value_params = jax.tree.map(lambda x: x + 0.3 * rng.normal(size=x.shape).astype(x.dtype),
                              rl_harness.host(h.state.value_params))
  # Left-padded prompts: the critic must mask the padding as the policy does.
  batch = _batch(h, filtered=False, left_pad=True)
  tokens, seg, pos = batch.tokens_NxL, batch.segment_NxL, batch.positions_NxL
  with h.ctx():
    _, values = h.fns.score(h.state.params, value_params, tokens, seg, pos)
  from r1jax.models.transformer import Transformer  # pylint: disable=g-import-not-at-top
  from r1jax.rl import value as value_lib  # pylint: disable=g-import-not-at-top
  params = rl_harness.host(h.state.params)
  L, T = tokens.shape[1], cfg.sampler.max_new_tokens
  if critic == "shared":
    hidden, _ = Transformer(h.model_config).apply({"params": params}, tokens, pos, seg,
                                                  return_hidden=True)
    want = value_lib.ValueHead().apply({"params": value_params}, hidden)
  else:
    want = value_lib.Critic(h.model_config).apply({"params": value_params}, tokens, pos, seg)
  want = np.asarray(want)[:, L - T - 1:L - 1]  # The value of the state before each token.
  real = np.asarray(batch.mask_NxT) > 0
  assert np.abs(want[real]).min() > 1e-3
  np.testing.assert_allclose(np.asarray(values)[real], want[real], rtol=1e-4, atol=1e-5)


def test_score_step_defaults_are_one_chunk_temperature_one_and_the_shared_critic():
  """Direct callers of rl_step.score_step (and of completion_logprobs) get one chunk (any row
  count, odd included), the raw distribution (temperature 1) and the value head on the policy
  trunk; completion_logprobs computes no entropy unless asked."""
  h = rl_harness.build(rl_harness.tiny_config(**{"rl.algorithm": "ppo"}))
  rng = np.random.default_rng(6)
  value_params = jax.tree.map(lambda x: x + 0.3 * rng.normal(size=x.shape).astype(x.dtype),
                              rl_harness.host(h.state.value_params))
  batch = _batch(h, filtered=False)
  rows = (batch.tokens_NxL[:3], batch.segment_NxL[:3], batch.positions_NxL[:3])
  T = h.config.sampler.max_new_tokens
  got = rl_step.score_step(h.state.params, value_params, *rows, model_config=h.model_config,
                           T=T)
  want = rl_step.score_step(h.state.params, value_params, *rows, model_config=h.model_config,
                            T=T, num_chunks=1, temperature=1.0, critic="shared")
  for a, b in zip(got, want):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # And completion_logprobs' own defaults: no entropy, the raw distribution, the shared head.
  logp, entropy, values = rl_step.completion_logprobs(h.state.params, h.model_config, *rows, T,
                                                      value_params)
  assert entropy is None
  np.testing.assert_allclose(np.asarray(logp), np.asarray(want[0]), rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(np.asarray(values), np.asarray(want[1]), rtol=1e-6, atol=1e-6)


def test_critic_warmup_freezes_the_policy(tmp_path):
  cfg = rl_harness.tiny_config(**{"rl.algorithm": "ppo", "rl.critic": "separate",
                                  "rl.critic_warmup_steps": 1, "checkpoint.every": 1})
  rl_trainer.train_and_evaluate(cfg, str(tmp_path))
  load = lambda s: rl_harness.checkpoint_state(tmp_path, s)
  s0, s1, s2 = load(0), load(1), load(2)
  same = lambda a, b: all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a),
                                                                 jax.tree.leaves(b)))
  assert same(s0["params"], s1["params"]) and not same(s1["params"], s2["params"])
  assert not same(s0["value_params"], s1["value_params"])


# --------------------------------------------------------------------------- 6. KL placement.
@pytest.mark.parametrize("algorithm,name", [("grpo", "grpo"), ("rloo", "rloo"),
                                            ("reinforce_pp", "reinforce_pp")])
def test_kl_in_the_reward(algorithm, name):
  """kl_placement='reward' with k1: outcome estimators see R_i - beta * sum_t k1_t; token
  estimators a per-token penalty; the loss then carries no KL term."""
  beta = 0.5
  cfg = rl_harness.tiny_config(**{"rl.algorithm": algorithm, "rl.kl_coef": beta,
                                  "rl.kl_placement": "reward", "sampler.group_size": 4})
  h = rl_harness.build(cfg)
  assert rl_phases.loss_config(cfg, h.algo).kl_coef == 0.0
  rng = np.random.default_rng(3)
  N, T = cfg.prompts_per_step * 4, cfg.sampler.max_new_tokens
  mask = (np.arange(T)[None] < rng.integers(1, T + 1, N)[:, None]).astype(np.float32)
  old = rng.normal(size=(N, T)).astype(np.float32) - 2
  ref = old + rng.normal(size=(N, T)).astype(np.float32)
  rewards = rng.integers(0, 2, N).astype(np.float32)
  zeros = np.zeros((N, T), np.float32)
  adv, _, _, metrics = h.fns.advantages(rewards, mask, old, ref, zeros, zeros, zeros)
  k1 = (old - ref) * mask
  from r1jax.rl import advantages as adv_lib  # pylint: disable=g-import-not-at-top
  cfg_adv = adv_lib.AdvantageConfig(kl_coef=beta if name == "reinforce_pp" else 0.0)
  if name == "reinforce_pp":
    inputs = adv_lib.AdvantageInputs(rewards, mask, 4, kl_NxT=k1)
  else:
    inputs = adv_lib.AdvantageInputs(rewards - beta * k1.sum(1), mask, 4)
  want = adv_lib.compute_advantages(name, inputs, cfg_adv).advantages_NxT
  np.testing.assert_allclose(np.asarray(adv), np.asarray(want), atol=1e-5)
  np.testing.assert_allclose(float(metrics["kl_penalty"]), beta * k1.sum() / mask.sum(),
                             rtol=1e-5)


def test_without_a_reference_the_update_reads_no_kl():
  """kl_coef 0: no reference pass runs, so whatever the batch's ref_logp holds (here the old
  log-probs plus noise) must not reach the update: its kl and kl_loss are exactly 0."""
  h = rl_harness.build(rl_harness.tiny_config())
  assert not rl_phases.rl_settings(h.config, h.algo).use_ref
  _, metrics = _update(h, _batch(h))
  assert metrics["kl"] == 0.0 and metrics["kl_loss"] == 0.0, (metrics["kl"], metrics["kl_loss"])


@pytest.mark.parametrize("algorithm", ["grpo", "reinforce_pp"])
def test_kl_in_the_loss_leaves_the_rewards_alone(algorithm):
  """The KL counts once. kl_placement='loss' (the trainer's jitted advantage step): the
  advantages are those of the bare rewards and no kl_penalty is reported; so with the KL in
  the reward at beta 0. With it in the reward at beta > 0, log-probs at padding (here +-inf)
  never reach the advantages or the penalty."""
  beta = 0.5
  cfg = rl_harness.tiny_config(**{"rl.algorithm": algorithm, "rl.kl_coef": beta,
                                  "rl.kl_placement": "loss", "sampler.group_size": 4})
  h = rl_harness.build(cfg)
  rng = np.random.default_rng(4)
  N, T = cfg.prompts_per_step * 4, cfg.sampler.max_new_tokens
  mask = (np.arange(T)[None] < rng.integers(1, T, N)[:, None]).astype(np.float32)
  old = rng.normal(size=(N, T)).astype(np.float32) - 2
  ref = old + rng.normal(size=(N, T)).astype(np.float32)
  rewards = rng.integers(0, 2, N).astype(np.float32)
  zeros = np.zeros((N, T), np.float32)
  from r1jax.rl import advantages as adv_lib  # pylint: disable=g-import-not-at-top
  bare = adv_lib.compute_advantages(algorithm, adv_lib.AdvantageInputs(rewards, mask, 4),
                                    adv_lib.AdvantageConfig()).advantages_NxT
  adv, _, _, metrics = h.fns.advantages(rewards, mask, old, ref, zeros, zeros, zeros)
  np.testing.assert_allclose(np.asarray(adv), np.asarray(bare), atol=1e-6)
  assert "kl_penalty" not in metrics

  step = lambda coef, o, r: rl_step.advantage_step(
      rewards, mask, o, r, zeros, zeros, zeros, algo=h.algo, name=algorithm, group_size=4,
      adv_cfg=adv_lib.AdvantageConfig(), kl_in_reward=True, kl_coef=coef, kl_estimator="k1")
  adv0, _, _, metrics0 = step(0.0, old, ref)
  np.testing.assert_allclose(np.asarray(adv0), np.asarray(bare), atol=1e-6)
  assert "kl_penalty" not in metrics0
  pad = mask == 0
  clean = step(beta, old, ref)
  dirty = step(beta, np.where(pad, np.inf, old), np.where(pad, -np.inf, ref))
  np.testing.assert_allclose(np.asarray(dirty[0]), np.asarray(clean[0]), atol=1e-6)
  np.testing.assert_allclose(float(dirty[3]["kl_penalty"]), float(clean[3]["kl_penalty"]),
                             rtol=1e-6)
  assert np.isfinite(np.asarray(clean[0])).all() and float(clean[3]["kl_penalty"]) > 0


def test_dapo_padding_groups_count_nowhere_in_the_advantages():
  """DAPO's batch can hold padding groups (keep_N = 0). The trainer's jitted advantage step
  (batch-level normalisation here, so the statistics show it) must give the kept rows what
  the kept rows alone would get, zeros and a zero mask elsewhere, and reward metrics of the
  kept rows only."""
  cfg = rl_harness.tiny_config(**{"rl.algorithm": "dapo", "rl.grpo_norm": "batch",
                                  "sampler.group_size": 4})
  h = rl_harness.build(cfg)
  rng = np.random.default_rng(8)
  N, T = cfg.prompts_per_step * 4, cfg.sampler.max_new_tokens
  mask = (np.arange(T)[None] < rng.integers(1, T + 1, N)[:, None]).astype(np.float32)
  rewards = rng.normal(size=N).astype(np.float32)
  keep = np.repeat(rng.permutation([1.0] * 3 + [0.0] * (cfg.prompts_per_step - 3)), 4)
  keep = keep.astype(np.float32)
  zeros = np.zeros((N, T), np.float32)
  adv, _, out_mask, metrics = h.fns.advantages(rewards, mask, zeros, zeros, zeros, zeros,
                                               zeros, keep)
  from r1jax.rl import advantages as adv_lib  # pylint: disable=g-import-not-at-top
  k = keep > 0
  want = adv_lib.compute_advantages(
      "grpo", adv_lib.AdvantageInputs(rewards[k], mask[k], 4),
      adv_lib.AdvantageConfig(grpo_norm="batch")).advantages_NxT
  np.testing.assert_allclose(np.asarray(adv)[k], np.asarray(want), rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(np.asarray(adv)[~k], 0.0)
  np.testing.assert_array_equal(np.asarray(out_mask), mask * keep[:, None])
  np.testing.assert_allclose(float(metrics["reward_mean"]), rewards[k].mean(), rtol=1e-5)


def test_k1_as_a_loss_term_is_refused():
  with pytest.raises(setup_lib.ConfigError, match="config.rl.kl_estimator"):
    setup_lib.validate_config(rl_harness.tiny_config(
        **{"rl.kl_coef": 0.1, "rl.kl_placement": "loss", "rl.kl_estimator": "k1"}))


# -------------------------------------------------------------- 7. Constant groups give zero.
@pytest.mark.parametrize("algorithm", ["grpo", "rloo", "dapo"])
def test_constant_groups_get_exactly_zero_advantage(algorithm):
  cfg = rl_harness.tiny_config(**{"rl.algorithm": algorithm})
  h = rl_harness.build(cfg)
  N, T = cfg.prompts_per_step * cfg.sampler.group_size, cfg.sampler.max_new_tokens
  rewards = np.repeat(np.array([0.1, 0.7, 1.3, 0.3, 2.9, 0.1, 5.3, 0.6], np.float32),
                      cfg.sampler.group_size)
  rewards[-1] += 1.0  # One group with signal.
  zeros = np.zeros((N, T), np.float32)
  adv, _, _, _ = h.fns.advantages(rewards, np.ones((N, T), np.float32), zeros, zeros, zeros,
                                  zeros, zeros)
  adv = np.asarray(adv)
  assert np.all(adv[:-cfg.sampler.group_size] == 0.0)
  assert np.any(adv[-cfg.sampler.group_size:] != 0.0)


# --------------------------------------------------------------- 3. DAPO dynamic sampling.
def test_dapo_refills_to_full_batches(tmp_path):
  """A reward most groups cannot tell apart (DAPO's overlong penalty on a policy that almost
  always runs to the budget): dynamic sampling draws more rounds until the batch is full of
  groups with signal, and the update trains on exactly those rows."""
  cfg = rl_harness.tiny_config(**{"rl.algorithm": "dapo", "rl.dynamic_max_rounds": 8,
                                  "rl.dynamic_oversample": 1, "total_steps": 2})
  cfg.rewards.math_accuracy = 0.0
  cfg.rewards.format_tags = 0.0
  cfg.rewards.overlong = 1.0
  cfg.reward_params.overlong = dict(max_len=4, cache_len=1)
  rl_trainer.train_and_evaluate(cfg, str(tmp_path))
  rows = _train_rows(tmp_path)
  assert len(rows) == 2
  G, B = cfg.sampler.group_size, cfg.prompts_per_step
  for r in rows:
    assert r["dapo/kept_groups"] + r["dapo/padded_groups"] == B
    assert r["dapo/dropped_groups"] > 0
    assert r["train/num_seqs"] == r["dapo/kept_groups"] * G
  assert any(r["dapo/refill_rounds"] >= 1 and r["dapo/kept_groups"] == B for r in rows), rows


# ------------------------------------------------------------- 9. Budget-forced tokens masked.
@pytest.mark.parametrize("mask_forced", [True, False])
def test_forced_tokens_get_no_gradient(mask_forced, tmp_path):
  cfg = rl_harness.tiny_config(**{"sampler.think_end": "</think>",
                                  "sampler.max_think_tokens": 3,
                                  "sampler.answer_prefix": "<answer>",
                                  "rl.mask_forced_tokens": mask_forced, "total_steps": 1})
  rl_trainer.train_and_evaluate(cfg, str(tmp_path))
  (r,) = _train_rows(tmp_path)
  N = cfg.prompts_per_step * cfg.sampler.group_size
  total = r["response/length_mean"] * N
  assert r["response/forced_tokens"] > 0
  want = total - r["response/forced_tokens"] if mask_forced else total
  assert r["train/num_tokens"] == pytest.approx(want)


# ------------------------------------------------- Acceptance: dense credit in a real run.
@pytest.mark.parametrize("advantage", ["process", "grpo"])
def test_within_completion_std_is_logged_every_step(advantage, tmp_path):
  """A warm-started model writes arithmetic steps, so process advantages vary along each
  completion (> 0 at every step) while GRPO's are constant per completion (exactly 0)."""
  cfg = rl_harness.tiny_config(**{"rl.advantage": advantage, "warm_start.sft_steps": 60,
                                  "warm_start.batch_size": 32, "warm_start.max_len": 32,
                                  "sampler.max_new_tokens": 24, "total_steps": 2})
  cfg.rewards.process_steps = 1.0 if advantage == "process" else 0.0
  rl_trainer.train_and_evaluate(cfg, str(tmp_path))
  rows = _train_rows(tmp_path)
  assert len(rows) == 2
  for r in rows:
    if advantage == "process":
      assert r["adv/within_completion_std"] > 0, r
    else:
      assert r["adv/within_completion_std"] == 0.0, r


def test_dapo_never_steps_on_an_empty_batch(tmp_path):
  """A reward no completion can change (the overlong penalty, far beyond the budget): every
  group has equal rewards, the rounds run out, and the step takes no optimizer update (Adam
  would still move the params on a zero gradient through its moments)."""
  cfg = rl_harness.tiny_config(**{"rl.algorithm": "dapo", "rl.dynamic_max_rounds": 2,
                                  "total_steps": 1, "checkpoint.every": 1})
  cfg.rewards.format_tags = 0.0
  cfg.rewards.math_accuracy = 0.0
  cfg.rewards.overlong = 1.0
  cfg.reward_params.overlong = dict(max_len=1000, cache_len=10)
  rl_trainer.train_and_evaluate(cfg, str(tmp_path))
  (r,) = _train_rows(tmp_path)
  assert r["dapo/padded_groups"] == cfg.prompts_per_step and r["dapo/kept_groups"] == 0
  assert r["dapo/rounds"] == 2 and r["train/skipped_updates"] == 1
  load = lambda s: rl_harness.checkpoint_state(tmp_path, s)
  for a, b in zip(jax.tree.leaves(load(0)), jax.tree.leaves(load(1))):
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------- The old-policy pass, skipped when exact.
@pytest.mark.parametrize("overrides, expected", [
    ({}, False),  # GRPO, one pass of one minibatch: the update's own log-probs are the old ones.
    ({"rl.num_iterations": 2}, True),
    ({"rl.num_minibatches": 2}, True),
    ({"rl.algorithm": "ppo"}, True),  # The critic's old values come from the pass.
    ({"rl.algorithm": "rloo", "rl.kl_coef": 0.05}, True),  # KL in the reward reads them.
    ({"rl.algorithm": "rloo", "rl.kl_coef": 0.0}, False),
])
def test_the_old_policy_pass_runs_only_when_something_needs_it(overrides, expected):
  c = rl_harness.tiny_config(**overrides)
  settings = rl_phases.rl_settings(c, rl_harness.get_algorithm(c.rl.algorithm))
  assert settings.score_old == expected


@pytest.mark.parametrize("algorithm", ["grpo", "gspo", "dapo"])
def test_one_step_update_without_the_old_pass_equals_the_scored_one(algorithm):
  """The trainer's jitted update for a one-step config (old log-probs = its own, behind a
  stop-gradient; the batch's old_logp zeros) against a config whose update reads the scored
  pass (two passes: one of its optimizer steps). Same batch, SGD (the update is the gradient):
  the same parameters (rtol 1e-5, atol 1e-7) and loss. Forward values equal to float32
  rounding, so the ratio is 1 and both are the on-policy gradient. At sampling temperature
  0.7, so the update's forward must use it as the scoring pass does (else the ratio is off 1)."""
  over = {"rl.algorithm": algorithm, "optim.name": "sgd", "optim.b1": 0.0,
          "optim.grad_clip": 0.0, "optim.lr": 1.0, "optim.warmup_steps": 0,
          "rl.kl_coef": 0.05, "rl.kl_placement": "loss", "sampler.temperature": 0.7}
  h1 = rl_harness.build(rl_harness.tiny_config(**over))
  h2 = rl_harness.build(rl_harness.tiny_config(**over, **{"rl.num_iterations": 2}))
  assert not rl_phases.rl_settings(h1.config, h1.algo).score_old
  batch = _batch(h2)
  s2, m2 = _update(h2, batch)
  s1, m1 = _update(h1, batch._replace(old_logp_NxT=jnp.zeros_like(batch.old_logp_NxT)))
  p0 = rl_harness.host(h1.state.params)
  moved = 0.0
  for a, b, c in zip(jax.tree.leaves(s1.params), jax.tree.leaves(s2.params), jax.tree.leaves(p0)):
    np.testing.assert_allclose(np.asarray(a) - c, np.asarray(b) - c, rtol=1e-5, atol=1e-7)
    moved = max(moved, float(np.max(np.abs(np.asarray(a) - c))))
  assert moved > 1e-4  # The step did something (a zero gradient would match trivially).
  np.testing.assert_allclose(m1["loss"], m2["loss"], rtol=1e-5, atol=1e-7)
  # The scored pass and the update's forward see one distribution: every ratio is 1.
  for k in ("ratio_min", "ratio_max"):
    np.testing.assert_allclose(m2[k], 1.0, atol=1e-5, err_msg=k)
