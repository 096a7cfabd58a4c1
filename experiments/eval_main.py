"""Evaluation and test-time scaling of a checkpoint on benchmark tasks.

  python experiments/eval_main.py --config=experiments/configs/eval_arith_tiny.py \
      --config.model.init_checkpoint=/tmp/r1jax/sft/model --workdir=/tmp/r1jax/eval
  # Also GSM8K and MATH-500 from a data folder:
  #   --config.data.data_dir=/path/to/data --config.test_time.benchmarks=gsm8k,math500

Greedy and sampled pass@1, pass@k, maj@k, token counts, a budget-forcing sweep, TIP on/off and
overthinking efficiency per task: <workdir>/eval_summary.md/.json, budget_<task>.png and
scaling_<task>.png. The run is r1jax.recipe.test_time.run_from_config.
"""
import time

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Tables and plots go here.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  t0 = time.time()
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every file it writes at INFO.
  from r1jax.recipe import test_time  # Imported after flag parsing.
  from r1jax import results
  from r1jax.train import exit_status, workdir_lock
  # One run per workdir; exit status 0 finished, 1 failed, 75 preempted (rerun to resume).
  with exit_status.guard(), workdir_lock.hold(_WORKDIR.value):
    outcome = test_time.run_from_config(_CONFIG.value, _WORKDIR.value)
    results.write(_WORKDIR.value, "eval", outcome, started=t0)


if __name__ == "__main__":
  app.run(main)
