"""Rejection sampling from a checkpoint: K samples per prompt, graded, filtered, kept as JSONL.

  python experiments/rejection_sampling_main.py \
      --config=experiments/configs/rs_arith_tiny.py \
      --config.model.init_checkpoint=/tmp/r1jax/sft/model --workdir=/tmp/r1jax/rs
  # No gold answers: label by majority vote (self-consistency) with a confidence threshold.
  python experiments/rejection_sampling_main.py \
      --config=experiments/configs/rs_arith_tiny.py:majority \
      --config.model.init_checkpoint=/tmp/r1jax/sft/model --workdir=/tmp/r1jax/rs_majority

The dataset is <workdir>/data.jsonl with dataset_info.json (provenance, counts); it is
finished only once <workdir>/COMPLETE exists, and rerunning the same command after an
interruption resumes it. The run is r1jax.recipe.rejection_sampling.run_from_config.
"""
import time

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "The dataset directory.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  t0 = time.time()
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every file it writes at INFO.
  from r1jax.recipe import rejection_sampling  # Imported after flag parsing.
  from r1jax import results
  from r1jax.train import exit_status, workdir_lock
  # One run per workdir; exit status 0 finished, 1 failed, 75 preempted (rerun to resume).
  with exit_status.guard(), workdir_lock.hold(_WORKDIR.value):
    outcome = rejection_sampling.run_from_config(_CONFIG.value, _WORKDIR.value)
    results.write(_WORKDIR.value, "rejection_sampling", outcome, started=t0)


if __name__ == "__main__":
  app.run(main)
