"""Supervised fine-tuning and distillation from a config; writes an orbax model checkpoint.

  python experiments/sft_main.py --config=experiments/configs/sft_arith_tiny.py \
      --workdir=/tmp/r1jax/sft
  # Distillation: SFT a student on a rejection-sampling dataset written by a teacher.
  python experiments/sft_main.py --config=experiments/configs/sft_arith_tiny.py:distill \
      --config.sft.train_file=/tmp/r1jax/rs/data.jsonl --workdir=/tmp/r1jax/student

The model goes to <workdir>/model (use it as --config.model.init_checkpoint elsewhere);
rerunning the same command resumes an interrupted run. The run is r1jax.recipe.sft.run.
"""
import time

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "The model, checkpoints and results go here.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  t0 = time.time()
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every file it writes at INFO.
  from r1jax.recipe import sft  # Imported after flag parsing (keeps --help fast).
  from r1jax import results
  from r1jax.train import exit_status, workdir_lock
  # One run per workdir; exit status 0 finished, 1 failed, 75 preempted (rerun to resume).
  with exit_status.guard(), workdir_lock.hold(_WORKDIR.value):
    outcome = sft.run(_CONFIG.value, _WORKDIR.value)
    results.write(_WORKDIR.value, "sft", outcome, started=t0)


if __name__ == "__main__":
  app.run(main)
