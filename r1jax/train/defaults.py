"""The full RL/SFT config with every field documented; experiment configs override it.

Experiment files in experiments/configs/ call `base_config()` and change what differs, so a
reader sees each experiment's choices in a few lines and every default in one place.
"""
from __future__ import annotations


def base_config():
  import ml_collections  # pylint: disable=g-import-not-at-top
  c = ml_collections.ConfigDict()
  c.seed = 0  # Seeds init, sampling keys, data order (each derived, never shared).
  c.total_steps = 100  # RL steps (one step = prompts -> rollouts -> rewards -> updates); 0 runs
  #                      the warm start only, evaluated and published as <workdir>/model.
  c.prompts_per_step = 16  # Prompts per RL step; rollouts per step = prompts * group_size.
  c.log_every = 1  # Steps between metric writes.

  # 'char:math', a folder with tokenizer.json, or a *.model file; '' is the model's own:
  # model.hf_checkpoint's folder (or init_checkpoint's hf/ folder), else 'char:math'.
  c.tokenizer = ""

  c.model = ml_collections.ConfigDict()
  c.model.preset = "tiny"  # Name in r1jax.models.presets (ignored with hf_checkpoint).
  c.model.hf_checkpoint = ""  # Local Hugging Face folder to start from (config + weights).
  c.model.init_checkpoint = ""  # An r1jax orbax model dir (python -m r1jax.models.hf convert).
  c.model.overrides = ml_collections.ConfigDict()  # ModelConfig fields replacing the preset's.
  c.model.vocab_multiple = 1  # Toy presets: vocab = tokenizer size rounded up to this.
  # Attention kernel: auto (cuDNN flash attention on NVIDIA GPUs in bf16/fp16, else dense),
  # dense (einsum reference), xla or cudnn (jax.nn.dot_product_attention); models/attention.py.
  c.model.attention_impl = "auto"

  c.data = ml_collections.ConfigDict()
  c.data.source = "arith"  # r1jax.data source: arith, countdown, gsm8k, math500, mixture...,
  # or your data: 'file:<path>' (.jsonl/.parquet, '{split}' filled in), 'seqio:<task>',
  # 'tfds:<dataset>' (data/user_sources.py), its columns named by data.fields.
  c.data.data_dir = ""  # Folder with the benchmark JSONL files (gsm8k/, math500/, ...).
  # Prompt template: plain, r1_zero, qwen_chat, llama3_chat, or 'chat:<folder>' for a
  # Hugging Face folder's own Jinja2 chat_template (tokenizer_config.json; needs jinja2).
  c.data.template = "plain"
  c.data.knobs = ml_collections.ConfigDict()  # Source-specific options (difficulty, seed...).
  c.data.train_split = "train"
  c.data.eval_split = "test"
  c.data.eval_source = ""  # Held-out source if different (e.g. train gsm8k, eval math500).
  c.data.max_prompt_len = 32  # Prompt tokens; longer prompts are skipped and counted.
  # Columns of a 'file:' / 'seqio:' / 'tfds:' source ('' = none); built-in sources ignore it.
  c.data.fields = ml_collections.ConfigDict()
  c.data.fields.question = "question"  # The question, rendered with data.template.
  c.data.fields.answer = "answer"  # The gold answer the rewards grade.
  c.data.fields.solution = ""  # A reference solution (process_reference reward).
  c.data.fields.completion = ""  # An SFT target (warm start, sft_main).
  c.data.fields.id = ""  # Stable example ids; '' numbers the records.
  c.data.fields.extras = ()  # Columns copied into each example as is (custom rewards).

  c.sampler = ml_collections.ConfigDict()
  c.sampler.group_size = 8  # Completions per prompt (GRPO's G).
  c.sampler.max_new_tokens = 48  # Completion budget in tokens.
  # Rollout temperature (> 0). The trainer scores log-probs at the same temperature, so the
  # ratio pi/pi_old compares the distribution the rollouts were really drawn from.
  c.sampler.temperature = 1.0
  # Truncated sampling (top_p < 1, top_k > 0, min_p > 0) makes the rollouts come from a
  # distribution the loss does not score (a biased ratio): refused in RL unless
  # rl.allow_truncated_sampling is set.
  c.sampler.top_p = 1.0
  c.sampler.top_k = 0
  c.sampler.min_p = 0.0
  c.sampler.stop_strings = ("</answer>",)  # End a completion (one token, or a token sequence).
  # Budget forcing in rollouts (s1), off by default. think_end: the end-of-thinking token
  # (e.g. '</think>'); max_think_tokens > 0 forces it (then answer_prefix) after that many
  # tokens; min_think_tokens > 0 replaces an earlier think_end by `wait`, at most max_waits
  # times. Forced tokens get no gradient while rl.mask_forced_tokens is set.
  c.sampler.think_end = ""
  c.sampler.min_think_tokens = 0
  c.sampler.max_think_tokens = 0
  c.sampler.wait = "Wait"
  c.sampler.max_waits = 1
  c.sampler.answer_prefix = ""

  c.rl = ml_collections.ConfigDict()
  c.rl.algorithm = "grpo"  # grpo, dr_grpo, dapo, gspo, rloo, reinforce_pp, ppo.
  c.rl.advantage = ""  # Override the algorithm's estimator ('process' for dense rewards).
  c.rl.kl_coef = 0.0  # beta: KL to the frozen reference (0 is off).
  # Where the KL goes: 'loss' (beta * KL_t added to each token's loss: DeepSeekMath GRPO) or
  # 'reward' (taken off the rewards: per token for reinforce_pp/ppo, the sequence's sum for
  # outcome estimators: PPO/RLOO papers); '' takes the algorithm's (reward for ppo, rloo,
  # reinforce_pp; loss for the GRPO family).
  c.rl.kl_placement = ""
  # k1, k2 or k3; '' takes k1 in the reward and k3 in the loss. k1 is refused as a loss term
  # (its expected gradient is zero); k3 is clamped at 10 as veRL does.
  c.rl.kl_estimator = ""
  c.rl.eps_low = -1.0  # Clip range below 1; -1 takes the algorithm's default.
  c.rl.eps_high = -1.0  # Clip range above 1 (DAPO clip-higher); -1: algorithm default.
  c.rl.dual_clip_c = 0.0  # Dual-clip bound for negative advantages (e.g. 3); 0 is off.
  c.rl.aggregation = ""  # Loss aggregation; '' takes the algorithm's.
  c.rl.norm_len = 0  # Dr. GRPO's constant divisor; 0 uses max_new_tokens.
  c.rl.entropy_coef = 0.0  # Entropy bonus weight.
  c.rl.num_iterations = 1  # Passes over each batch of rollouts (mu).
  c.rl.num_minibatches = 1  # Optimizer steps per pass.
  # Microbatches per optimizer step; losses are normalised by the whole step's token (or
  # sequence) count, so the update does not depend on it.
  c.rl.grad_accum = 1
  c.rl.score_chunks = 1  # Old/reference log-probs computed this many row chunks at a time.
  c.rl.scale_by_std = True  # GRPO: divide by the group std.
  # group: mean and std per group; batch: both over the batch; group_mean_batch_std: group
  # mean, batch std (what TRL calls scale_rewards='batch').
  c.rl.grpo_norm = "group"
  c.rl.gamma = 1.0  # GAE / REINFORCE++ discount.
  c.rl.lam = 0.95  # GAE lambda.
  c.rl.vf_coef = 0.5  # PPO value-loss weight.
  c.rl.vf_clip = 0.2  # PPO value clipping; 0 is off.
  c.rl.value_lr = 1e-3  # Learning rate of the value model (its own optimizer).
  # PPO's value model: 'shared' (a head on the policy trunk behind a stop-gradient: the value
  # loss never moves the policy) or 'separate' (its own trunk, started from the policy's).
  c.rl.critic = "shared"
  c.rl.critic_warmup_steps = 0  # PPO: first RL steps that train only the critic.
  # DAPO dynamic sampling: each round samples this many batches of prompts_per_step prompts;
  # rounds repeat (at most dynamic_max_rounds) until prompts_per_step groups with differing
  # rewards are kept. Short batches are padded with masked groups and reported.
  c.rl.dynamic_oversample = 1
  c.rl.dynamic_max_rounds = 4
  c.rl.allow_truncated_sampling = False  # Opt in to top_k/top_p/min_p rollouts (biased).
  c.rl.add_outcome = True  # 'process' advantages: add the normalised outcome reward.
  c.rl.mask_forced_tokens = True  # Budget-forced tokens get no policy gradient.
  c.rl.overlong_filter = False  # DAPO: truncated completions get no gradient.
  c.rl.ref_reset_every = 0  # Iterative GRPO: reference <- policy every N steps; 0 never.

  # Reward name -> weight. Every registered reward is listed so a sweep can switch one on
  # from the command line (--config.rewards.process_reference=0.5); weight 0 is not graded.
  from r1jax.rewards.registry import REWARDS  # pylint: disable=g-import-not-at-top
  c.rewards = ml_collections.ConfigDict({name: 0.0 for name in sorted(REWARDS)})
  c.rewards.math_accuracy = 1.0
  # Your own rewards: {'pkg.module:function': weight}, resolved by import path in whichever
  # process grades (r1jax/rewards/custom.py has the function API). A dict, not a ConfigDict:
  # import paths hold dots.
  c.rewards.custom = ml_collections.FieldReference({}, field_type=dict)
  c.reward_params = ml_collections.ConfigDict()  # Reward name -> dict of its parameters.
  c.reward_workers = 0  # Grading processes; 0 grades in this process (toy tasks).
  c.reward_timeout_s = 1.0  # Per-completion grading limit (SIGALRM in-process, kill in a pool).

  c.optim = ml_collections.ConfigDict()
  c.optim.name = "adamw"  # adamw, or sgd (momentum = b1).
  c.optim.lr = 1e-6
  c.optim.schedule = "constant"  # constant, cosine or linear (each after warmup).
  c.optim.warmup_steps = 0  # Optimizer steps.
  c.optim.weight_decay = 0.0
  c.optim.grad_clip = 1.0  # Global-norm clipping; 0 is off.
  c.optim.b1 = 0.9
  c.optim.b2 = 0.999

  c.warm_start = ml_collections.ConfigDict()  # Optional SFT before RL (toy demo, cold start).
  c.warm_start.sft_steps = 0  # 0 skips SFT.
  c.warm_start.batch_size = 64
  c.warm_start.max_len = 64  # Prompt + completion tokens.
  c.warm_start.lr = 3e-3
  c.warm_start.warmup_steps = 20
  c.warm_start.schedule = "cosine"  # AdamW with global-norm clipping at 1.0 otherwise.

  c.mesh = ml_collections.ConfigDict()
  c.mesh.data = -1  # -1 fills with the remaining devices.
  c.mesh.fsdp = 1
  c.mesh.tensor = 1
  c.mesh.rules = ()  # Logical axis rules as (name, mesh axes) pairs; () = defaults.

  # Multi-process runs on JAX's distributed runtime (r1jax/distributed.py, BUILD.md).
  c.distributed = ml_collections.ConfigDict()
  c.distributed.enabled = "auto"  # auto: start it under a multi-process launcher (SLURM,
  # Open MPI, TPU env) or with a coordinator_address; on: always (TPU pods); off: never.
  c.distributed.coordinator_address = ""  # host:port of process 0 (explicit launches).
  c.distributed.num_processes = 0  # With coordinator_address: how many processes in all.
  c.distributed.process_id = -1  # With coordinator_address: this process's index.
  c.distributed.local_device_ids = ""  # e.g. '0,1': the local devices this process uses.
  c.distributed.initialization_timeout_s = 300  # Waiting for every process to connect.
  c.distributed.heartbeat_timeout_s = 60  # A silent process is declared dead after this;
  # the others then abort with a clear error instead of hanging.
  c.distributed.shutdown_timeout_s = 60  # How long a finishing process waits for the rest.
  c.distributed.cpu_collectives = "gloo"  # CPU devices across processes: gloo, mpi or none.

  c.checkpoint = ml_collections.ConfigDict()
  c.checkpoint.every = 50  # RL steps between saves (and one at the end).
  c.checkpoint.keep = 3
  c.checkpoint.best_metric = "eval/pass@1"  # Also keep the best by this; '' is off.
  # Write in the background while training goes on; the save still checks at once that the
  # disk can take it (space, file-size limit, writable), see r1jax/train/checkpoint.py.
  c.checkpoint.async_save = True
  # Resume from the newest step that restores, skipping (and moving to checkpoints_skipped/)
  # steps that do not; True refuses with the first error instead (r1jax/train/resume.py).
  c.checkpoint.strict_restore = False
  # Data files or data config differ from the checkpoint's fingerprint: 'warn' resumes,
  # 'refuse' stops (r1jax/train/data_fingerprint.py).
  c.checkpoint.on_data_change = "warn"

  c.eval = ml_collections.ConfigDict()
  c.eval.every = 50  # RL steps between evaluations (also before the first and after the last).
  c.eval.num_problems = 500  # Held-out problems for greedy pass@1.
  c.eval.k = 4  # Samples for pass@k / maj@k; 0 is off.
  c.eval.k_problems = 100  # Problems for pass@k / maj@k.
  c.eval.temperature = 1.0  # Of the k samples (greedy pass@1 is always at temperature 0).
  c.eval.batch_size = 250  # Prompts per eval sampling call.
  c.eval.accuracy_reward = "math_accuracy"  # The reward that defines "correct";
  #   "math_accuracy_flexible" also reads answers not in R1's format (prose, bare math).
  return c
