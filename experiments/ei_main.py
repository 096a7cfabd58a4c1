"""Expert iteration: R rounds of rejection sampling then SFT from the initial model.

  python experiments/ei_main.py --config=experiments/configs/ei_arith_tiny.py \
      --workdir=/tmp/r1jax/ei

Writes <workdir>/round_<r>/ (dataset, union, model, eval.json), ei_summary.md/.json and
ei_pass_at_1.png; rerunning the same command resumes after an interruption. The run is
r1jax.recipe.expert_iteration.run.
"""
import time

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Rounds, models and the summary go here.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  t0 = time.time()
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every file it writes at INFO.
  from r1jax.recipe import expert_iteration  # Imported after flag parsing.
  from r1jax import results
  from r1jax.train import exit_status, workdir_lock
  # One run per workdir; exit status 0 finished, 1 failed, 75 preempted (rerun to resume).
  with exit_status.guard(), workdir_lock.hold(_WORKDIR.value):
    outcome = expert_iteration.run(_CONFIG.value, _WORKDIR.value)
    results.write(_WORKDIR.value, "expert_iteration", outcome, started=t0)


if __name__ == "__main__":
  app.run(main)
