"""Finding 8 (FINDINGS.md): TIP, the thought-switching penalty of the underthinking paper (Wang
et al. 2025), reduces thought switching; reported as switches per response, with accuracy and
tokens.

  python experiments/sweep_main.py --sweep=experiments/findings/thought_switching.py \
      --workdir=/tmp/r1jax/switch_start              # a switching warm start, one per seed
  python experiments/sweep_main.py \
      --sweep=experiments/findings/thought_switching.py:/tmp/r1jax/switch_start \
      --workdir=/tmp/r1jax/tip --parallel=2          # TIP at 3 strengths x 3 models
  python -m r1jax.eval.compare /tmp/r1jax/tip

The toy needs thoughts to switch between, which the demo's traces lack. Here the warm-start
teacher (data.knobs.switch_rate=0.7, truncate_rate=0: otherwise clean) abandons 70% of its
chains after one or two correct steps, writes "Alternatively" on a line of its own and starts
the chain again: the paper's "promising thought abandoned", at a rate (0.7) chosen so that
greedy decoding as well as sampling meets a switch decision near a coin flip. The starting
models are arith_tiny.py's warm start (200 SFT steps, grpo_main with total_steps=0) on those
traces, with room for them (64 new tokens, 80 in all).

Each evaluation (eval_main, experiments/configs/eval_arith_tiny.py) decodes the first 500
held-out problems greedily with TIP off and on, and 4 samples per problem at temperature 1.0
(the RL runs' rollout temperature) off and on from the same draws; TIP penalises the first
token of "Alternatively" ('A', used by nothing else in the toy) by alpha for beta = 64 tokens
from the start of each thought: the whole response, as the paper's beta = 600 is for its
responses. alpha: 3 (the paper's), and 1 and 10 around it. `smoke` and `smoke:<dir>` are the
same chain, tiny.
"""
from r1jax.sweep import toy
from r1jax.sweep.spec import Sweep, axis

START = "start-switching"  # The starting runs' point name.
SWITCHING = {"data.knobs.truncate_rate": 0.0, "data.knobs.switch_rate": 0.7,
             "warm_start.max_len": 80, "sampler.max_new_tokens": 64}
TIP = {"test_time.tip_strings": ("Alternatively",), "test_time.tip_beta": 64,
       "test_time.tip_sampled": True, "test_time.ks": (1, 4), "test_time.temperature": 1.0,
       "test_time.budgets": (), "test_time.num_problems": 500, "test_time.batch_size": 250,
       "sampler.max_new_tokens": 64}
SMOKE_TIP = {"test_time.ks": (1, 2), "test_time.num_problems": 8, "test_time.batch_size": 8}
TASK = "eval/arith/test/"
METRICS = tuple((TASK + m, "final") for m in (
    "tip/sampled/switches", "sampled/switches", "greedy/switches", "tip/switches",
    "greedy/switches_correct", "greedy/switches_wrong", "sampled/switches_correct",
    "sampled/switches_wrong",
    "greedy/pass@1", "tip/pass@1", "sampled/pass@1", "tip/sampled/pass@1",
    "greedy/tokens", "tip/tokens", "sampled/tokens", "tip/sampled/tokens"))


def get_sweep(arg=None):
  smoke, start_dir = toy.split_smoke(arg)
  overrides, seeds = toy.variant("smoke" if smoke else None)
  if not start_dir:  # The starting models: a switching teacher's warm start, no RL step.
    overrides.update(SWITCHING, total_steps=0)
    return Sweep(main="grpo", config=toy.ARITH_TINY, overrides=overrides, seeds=seeds,
                 axes=axis("start", {"switching": {}}), curves=())
  tip = {"model.init_checkpoint": f"{start_dir}/{START}.seed-{{seed}}/model", **TIP,
         **(SMOKE_TIP if smoke else {})}
  alpha = axis("alpha", {"1": {"test_time.tip_alpha": 1.0}, "3": {"test_time.tip_alpha": 3.0},
                         "10": {"test_time.tip_alpha": 10.0}})
  return Sweep(main="eval", config="experiments/configs/eval_arith_tiny.py", overrides=tip,
               axes=alpha, seeds=seeds, baseline="alpha-3", metrics=METRICS, curves=())
