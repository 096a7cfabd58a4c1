"""Runs a grid of configs x seeds and aggregates it into one comparison with error bars.

  python experiments/sweep_main.py --sweep=experiments/sweeps/kl.py:smoke --workdir=/tmp/kl
  python experiments/sweep_main.py --sweep=experiments/sweeps/kl.py --workdir=DIR --parallel=2
  python experiments/sweep_main.py --sweep=... --workdir=DIR --dry_run     # the commands
  python experiments/sweep_main.py --sweep=... --workdir=DIR --list        # index, run name
  python experiments/sweep_main.py --sweep=... --workdir=DIR --run_index=3 # one run (arrays)

Each run goes to DIR/<point>.seed-<s>/ (its main's workdir, full config, results.json); a
finished run is skipped, so re-running a killed sweep completes it. When every run is done,
DIR/results.md and DIR/curves.png are written (python -m r1jax.eval.compare DIR redoes them).
Flags after "--" go to every run's main unchanged (--config.distributed.enabled=on on a TPU
slice). Exit status: 0 all runs finished, 1 a run failed, 2 a bad sweep (nothing was started).
"""
import sys

from absl import app, flags

_SWEEP = flags.DEFINE_string("sweep", None, "Sweep file, path/to/sweep.py[:variant].")
_WORKDIR = flags.DEFINE_string("workdir", None, "One directory per run, results.md, curves.png.")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at once on this machine.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print each run's command; run nothing.")
_LIST = flags.DEFINE_bool("list", False, "Print 'index run-name' per run; run nothing.")
_RUN_INDEX = flags.DEFINE_multi_integer("run_index", None, "Only these runs (0-based), no "
                                        "aggregation: one task of a SLURM array or a TPU slice.")
flags.mark_flags_as_required(["sweep", "workdir"])


def main(argv):
  extra = argv[1:]  # After "--": passed to every run's main (e.g. distributed settings).
  from r1jax.eval import compare  # pylint: disable=g-import-not-at-top
  from r1jax.sweep import runner, spec  # pylint: disable=g-import-not-at-top
  try:
    sweep, name = spec.load(_SWEEP.value)
    if _LIST.value:
      for i, r in enumerate(spec.expand(sweep)):
        print(i, r.name)
      return 0
    out = runner.run_sweep(sweep, name, _WORKDIR.value, parallel=_PARALLEL.value,
                           dry_run=_DRY_RUN.value, only=_RUN_INDEX.value,
                           extra=extra)
  except spec.SweepError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if _DRY_RUN.value:
    return 0
  print(f"sweep {name}: {len(out.finished)} finished, {len(out.skipped)} skipped, "
        f"{len(out.failed)} failed", flush=True)
  if out.failed:
    for run, status, log in out.failed:
      print(f"  FAILED {run} (exit {status}): {log}", file=sys.stderr)
    return 1
  if _RUN_INDEX.value is None:
    print(compare.aggregate(_WORKDIR.value), flush=True)
  return 0


if __name__ == "__main__":
  app.run(main)
