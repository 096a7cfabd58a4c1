"""The base config plus the recipe sections (sft, rs, ei, test_time), every field documented.

Configs in experiments/configs/ for sft_main, rejection_sampling_main, ei_main and eval_main
call `recipe_config()` and change what differs. Fields shared with the RL trainer (tokenizer,
model, data, sampler, rewards, eval, mesh) keep the meanings of r1jax/train/defaults.py; here
sampler.group_size is K, the completions sampled per prompt.
"""
from __future__ import annotations

from r1jax.train.defaults import base_config


def recipe_config():
  import ml_collections  # pylint: disable=g-import-not-at-top
  c = base_config()

  c.sft = ml_collections.ConfigDict()  # sft_main, and each expert-iteration round.
  c.sft.steps = 120  # Optimizer steps.
  c.sft.batch_size = 64  # Sequences per step (a multiple of the mesh's data*fsdp).
  c.sft.max_len = 64  # Prompt + completion + eos tokens; longer examples are skipped.
  c.sft.lr = 3e-3
  c.sft.schedule = "cosine"  # constant, cosine or linear, each after warmup.
  c.sft.warmup_steps = 20
  c.sft.weight_decay = 0.0
  c.sft.grad_clip = 1.0  # Global-norm clipping; 0 is off.
  c.sft.pack = False  # Pack several examples per row (next-fit).
  c.sft.checkpoint_every = 50  # Steps between resumable saves; 0 only saves the final model.
  c.sft.log_every = 40
  c.sft.seed = 0  # Data order.
  c.sft.train_file = ""  # Distillation: a JSONL of prompt + completion rows (e.g. a
  #                         rejection-sampling data.jsonl); '' trains on data.source's traces.

  c.rs = ml_collections.ConfigDict()  # Rejection sampling (also each EI round).
  c.rs.split = "train"  # Prompts come from this split of data.source.
  c.rs.num_prompts = 512  # The first N prompts of the split.
  c.rs.prompts_per_batch = 64  # Prompts per sampler call (x group_size completions).
  c.rs.shard_prompts = 128  # Prompts per shard: the unit of resumption.
  c.rs.salt = 0  # Folded into the sampling keys: another salt, other samples.
  c.rs.labels = "gold"  # gold, majority (self-consistency, no gold needed) or auto.
  c.rs.min_confidence = 0.5  # Majority labels: least vote share of the K samples.
  c.rs.filters = ml_collections.ConfigDict()
  c.rs.filters.correct = True  # Keep only samples graded correct (eval.accuracy_reward).
  c.rs.filters.required = ()  # Rewards that must score 1.0: 'format_strict' (R1's format),
  #                              'process_steps' (every 'a op b = c' step of the trace holds).
  c.rs.filters.drop_truncated = True  # Drop samples cut at sampler.max_new_tokens.
  c.rs.filters.min_tokens = 0  # Drop shorter samples (tokens).
  c.rs.filters.max_tokens = 0  # Drop longer samples; 0 is no limit.
  c.rs.filters.min_language = 0.0  # Least language_consistency score (its params from
  #                                   reward_params.language_consistency); 0 is off.
  c.rs.filters.dedup = True  # Drop repeated completions of a prompt.
  c.rs.filters.max_per_prompt = 0  # M, most samples kept per prompt; 0 keeps all.
  c.rs.filters.prefer = "first"  # Which M: 'first' sampled or 'shortest'.

  c.ei = ml_collections.ConfigDict()  # Expert iteration (uses rs, sft and warm_start).
  c.ei.rounds = 2  # R rounds of rejection sampling + SFT from the initial model.

  c.test_time = ml_collections.ConfigDict()  # eval_main.
  c.test_time.num_problems = 200  # Problems per task (the first N of its eval split).
  c.test_time.benchmarks = ()  # Extra tasks read from data.data_dir: gsm8k, math500, ...
  c.test_time.batch_size = 200  # Prompts per sampler call (a multiple of data*fsdp).
  c.test_time.ks = (1, 2, 4, 8)  # maj@k and pass@k; max(ks) samples per problem.
  c.test_time.temperature = 1.0  # Of those samples.
  c.test_time.budgets = ()  # Thinking budgets (tokens) for the budget-forcing sweep.
  c.test_time.budget_mode = "cap"  # cap: stop thinking at the budget; force: also extend
  #                                  thinking to it by appending `wait` (s1).
  c.test_time.think_end = "</think>"  # End-of-thinking delimiter (one token or several).
  c.test_time.wait = "Wait"  # Text appended instead of an early end of thinking.
  c.test_time.max_waits = 4  # At most this many appended waits per completion.
  c.test_time.answer_prefix = ""  # Text appended after a forced end of thinking.
  c.test_time.tip_strings = ()  # Thought-switch words for TIP (penalised at their first
  #                                token; several tokens each is fine); () is off.
  c.test_time.tip_alpha = 3.0  # TIP penalty on their logits.
  c.test_time.tip_beta = 600  # TIP window in tokens from the start of each thought.
  # Also compare TIP off and on over max(ks) samples per problem (the sampled run's draws),
  # where a switch habit shows even when greedy decoding never switches; needs ks.
  c.test_time.tip_sampled = False
  return c
