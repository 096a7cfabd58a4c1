"""Online RL (GRPO and friends) from a config.

  python experiments/grpo_main.py --config=experiments/configs/arith_tiny.py \
      --workdir=/tmp/r1jax/arith_tiny [--config.rl.algorithm=dr_grpo]

Only flags are parsed here; the run is r1jax.train.rl_trainer.train_and_evaluate. Multi-host:
run the same command on every host (launch/ has TPU VM and SLURM scripts; BUILD.md).
"""
import time

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Checkpoints, metrics and plots go here; an "
                               "existing checkpoint there is resumed.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  t0 = time.time()
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every file it writes at INFO.
  from r1jax import distributed, results  # Imported after flag parsing (keeps --help fast).
  from r1jax.train import exit_status, rl_trainer
  # Exit status 0 finished, 1 failed, 75 preempted (requeue): r1jax/train/exit_status.py.
  with distributed.fail_fast(), exit_status.guard():  # fail_fast: one failing process stops
    outcome = rl_trainer.train_and_evaluate(_CONFIG.value, _WORKDIR.value)  # all promptly.
    results.write(_WORKDIR.value, "rl", outcome, started=t0)


if __name__ == "__main__":
  app.run(main)
