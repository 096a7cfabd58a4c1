"""Finding 9 (FINDINGS.md): a small curated SFT set is enough (LIMO, s1): held-out accuracy
against SFT set size, curated against random subsets of equal size.

  python -m r1jax.recipe.curate --config=experiments/configs/arith_tiny.py \
      --out=/tmp/r1jax/sft_sets --sizes=100,1000,10000 --seeds=0,1,2
  python experiments/sweep_main.py \
      --sweep=experiments/findings/sft_set_size.py:/tmp/r1jax/sft_sets \
      --workdir=/tmp/r1jax/sft_size --parallel=2
  # smoke: --sizes=16 --seeds=0,1 --pool=400, then the sweep's `smoke:<dir>` variant.

The sets are subsets of the demo's warm-start data (arith_tiny.py: half of its traces come from
a sloppy teacher that stops one step early): `random` as written, `verified` (random among
the traces whose answer, format and steps are right) and `curated` (verified, then the
hardest of each operator pattern in turn; r1jax/recipe/curate.py). Each run is SFT of the
small preset from random init for the warm start's budget (200 steps of 64 sequences, lr 3e-3,
cosine), so a smaller set is seen for more epochs; it is evaluated as the RL runs are (greedy
pass@1 on 500 held-out problems). The sweep's points and seeds are read from <dir>/sets.json.
"""
import json
import pathlib

from r1jax.sweep import toy
from r1jax.sweep.spec import Sweep, axis

SFT_BUDGET = {"sft.steps": 200, "sft.batch_size": 64, "sft.lr": 3e-3, "sft.warmup_steps": 20,
              "sft.schedule": "cosine", "sft.max_len": 64}
SMOKE = {"sft.steps": 2, "sft.batch_size": 8, "sft.warmup_steps": 1, "sft.checkpoint_every": 1,
         "eval.num_problems": 8, "eval.k_problems": 8, "eval.batch_size": 8}


def get_sweep(arg=None):
  smoke, rest = toy.split_smoke(arg)
  sets = pathlib.Path(rest)
  if not str(sets) or not (sets / "sets.json").is_file():
    raise ValueError(f"give the folder of `python -m r1jax.recipe.curate --out=<dir>` "
                     f"(no sets.json in {str(sets)!r}): --sweep=...sft_set_size.py:[smoke:]<dir>")
  info = json.loads((sets / "sets.json").read_text())
  names = sorted(info["sets"])
  sizes = sorted({info["sets"][n]["size"] for n in names})
  seeds = sorted({int(n.rsplit(".seed-", 1)[1].split(".")[0]) for n in names})
  points = {f"{how}_{n}": {"sft.train_file": str(sets.absolute() / f"{how}-{n}.seed-{{seed}}.jsonl")}
            for n in sizes for how in ("random", "verified", "curated")}
  return Sweep(main="sft", config="experiments/configs/sft_arith_tiny.py", seeds=seeds,
               axes=axis("set", points), baseline=f"set-random_{sizes[-1]}", curves=(),
               overrides={**SFT_BUDGET, **toy.RL_EVAL, **(SMOKE if smoke else {})})
