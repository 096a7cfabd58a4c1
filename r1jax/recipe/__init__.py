"""The rest of the R1 recipe on the shared sampler, rewards and SFT trainer.

rejection_sampling (K samples per prompt, graded, filtered, kept as a resumable dataset),
expert_iteration (rounds of rejection sampling and SFT from the initial model), sft (SFT and
distillation runs), test_time (pass@k, maj@k, budget forcing, TIP, thinking efficiency);
shards, generation and runtime are what they share. Commands: experiments/*_main.py.
"""
