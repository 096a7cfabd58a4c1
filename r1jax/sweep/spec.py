"""Sweep files: a base config, named axes of config overrides, seeds -> a list of runs.

A sweep file (experiments/sweeps/<name>.py) defines `get_sweep(arg=None)` returning a Sweep:

  def get_sweep(arg=None):
    return Sweep(
        main="grpo",                                  # experiments/grpo_main.py
        config="experiments/configs/arith_tiny.py",   # the base config file (relative to the
        overrides={"total_steps": 60},                #   repository root) and its overrides
        axes=product(axis("kl", {"0": {"rl.kl_coef": 0.0}, "0.04": {"rl.kl_coef": 0.04}}),
                     axis("G", {"4": {"sampler.group_size": 4}, "8": {...}})),
        seeds=(0, 1, 2), baseline="kl-0_G-8")

`axis(name, {label: overrides})` is one named dimension; `product(...)` crosses dimensions and
`zip_axes(...)` steps them together (equal lengths). A point is named by its labels
("kl-0_G-8"); a run is a point at a seed ("kl-0_G-8.seed-1"). A string override may hold
'{seed}', replaced by the run's seed (a per-seed input: the model of another sweep's run at that
seed). `expand` checks every override of every run against the base config before anything
runs, and fails naming the field.
"""
from __future__ import annotations

import dataclasses
import itertools
import pathlib
import re
from typing import Any, Mapping, Sequence

from r1jax import experiment_files

REPO = pathlib.Path(__file__).resolve().parents[2]
# Entry points by name; each writes <workdir>/results.json (r1jax/results.py).
MAINS = {"grpo": "experiments/grpo_main.py", "sft": "experiments/sft_main.py",
         "rejection_sampling": "experiments/rejection_sampling_main.py",
         "ei": "experiments/ei_main.py", "eval": "experiments/eval_main.py"}
_LABEL_RE = re.compile(r"^[A-Za-z0-9_.+=@-]+$")


class SweepError(ValueError):
  """A bad sweep file; the message names the sweep field or config field."""


METRIC_KINDS = ("final", "best", "train", "start", "gain")


@dataclasses.dataclass(frozen=True)
class Point:
  labels: tuple[tuple[str, str], ...]  # (axis name, label) per dimension.
  overrides: Mapping[str, Any]

  @property
  def name(self) -> str:
    return "_".join(f"{a}-{l}" for a, l in self.labels) or "base"


@dataclasses.dataclass(frozen=True)
class Sweep:
  config: str  # Base config file, relative to the repository root; 'file.py:arg' allowed.
  axes: Sequence[Point] = ()  # From axis / product / zip_axes; () is the base config alone.
  seeds: Sequence[int] = (0,)  # Written to `seed_field` of each run's config.
  # A key of MAINS, or a script (.py, relative to the repository root) that takes --config,
  # --workdir and --config.<field>=<value> flags and writes <workdir>/results.json.
  main: str = "grpo"
  overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # For every run.
  baseline: str = ""  # Point name that results.md differences are taken against.
  # Metrics results.md reports: (name, kind) pairs from each run's results.json; kind 'final'
  # (last eval), 'best' (max over evals), 'train' (last training row), 'start' (first eval)
  # or 'gain' (final minus start: what the run's training changed); wall_time_s is whole.
  metrics: Sequence[tuple[str, str]] = (("eval/pass@1", "final"), ("eval/pass@1", "best"),
                                        ("eval/maj@4", "final"), ("eval/maj@4", "best"),
                                        ("eval/length", "final"), ("wall_time_s", "final"))
  curves: Sequence[str] = ("eval/pass@1", "reward/total", "response/length_mean")
  seed_field: str = "seed"


@dataclasses.dataclass(frozen=True)
class Run:
  name: str  # Directory name under the sweep's workdir.
  point: str
  seed: int
  overrides: Mapping[str, Any]  # Base overrides, then the point's, then the seed.


def axis(name: str, values: Mapping[str, Mapping[str, Any]]) -> tuple[Point, ...]:
  """One dimension: label -> config overrides (dotted field -> value)."""
  if not values:
    raise SweepError(f"axis {name!r} has no values")
  for label in [name, *values]:
    if not _LABEL_RE.match(str(label)):
      raise SweepError(f"axis {name!r}: {label!r} must be letters, digits or _.+=@- (it names "
                       "run directories)")
  return tuple(Point(((name, str(l)),), dict(o)) for l, o in values.items())


def _merge(points: Sequence[Point]) -> Point:
  overrides: dict[str, Any] = {}
  for p in points:
    for k, v in p.overrides.items():
      if k in overrides and overrides[k] != v:
        raise SweepError(f"axes {[a for q in points for a, _ in q.labels]} set {k!r} to "
                         f"different values in one point")
      overrides[k] = v
  return Point(tuple(l for p in points for l in p.labels), overrides)


def product(*dims: Sequence[Point]) -> tuple[Point, ...]:
  return tuple(_merge(ps) for ps in itertools.product(*dims))


def zip_axes(*dims: Sequence[Point]) -> tuple[Point, ...]:
  lengths = {len(d) for d in dims}
  if len(lengths) > 1:
    raise SweepError(f"zip_axes needs axes of equal length, got {sorted(lengths)}")
  return tuple(_merge(ps) for ps in zip(*dims))


def main_path(main: str) -> pathlib.Path:
  """The entry point of `Sweep.main`."""
  path = pathlib.Path(MAINS.get(main, main))
  return path if path.is_absolute() else REPO / path


def load(spec: str) -> tuple[Sweep, str]:
  """`path/to/sweep.py[:variant]` -> (Sweep, sweep name); fails naming the file."""
  path, arg = experiment_files.split(spec)
  try:
    file = experiment_files.resolve(path, "--sweep")
    module = experiment_files.load_module(file, "--sweep", "get_sweep")
  except (FileNotFoundError, ValueError) as e:
    raise SweepError(str(e)) from e
  try:
    sweep = module.get_sweep(arg or None)
  except (ValueError, TypeError, KeyError) as e:  # A bad variant or a bad Sweep field.
    raise SweepError(f"{file}: get_sweep({arg or None!r}): {e}") from e
  if not isinstance(sweep, Sweep):
    raise SweepError(f"{file}: get_sweep must return r1jax.sweep.spec.Sweep, got "
                     f"{type(sweep).__name__}")
  return sweep, file.stem + (f"-{short_arg(arg)}" if arg else "")


def short_arg(arg: str) -> str:
  """A variant for a sweep's name: each ':'-separated path cut to its last part, so a sweep
  over another sweep's folder is named after that folder, not the machine's layout."""
  return ":".join(pathlib.PurePath(p).name if "/" in p else p for p in arg.split(":"))


def base_config(sweep: Sweep):
  """The sweep's base config (get_config of its config file)."""
  try:
    return experiment_files.load_config(sweep.config, flag="sweep.config")
  except FileNotFoundError as e:
    raise SweepError(str(e)) from e


def apply_overrides(config, overrides: Mapping[str, Any], where: str):
  """Sets dotted fields on a copy of `config`; an unknown field or a wrong type fails naming
  the field and `where` (the run or point)."""
  c = config.copy_and_resolve_references()
  for dotted, value in overrides.items():
    node, parts = c, dotted.split(".")
    for i, part in enumerate(parts):
      is_mapping = hasattr(node, "keys")
      if not is_mapping or part not in node.keys():
        raise SweepError(f"{where}: config has no field {dotted!r} ({'.'.join(parts[:i + 1])!r}"
                         " does not exist)")
      if i < len(parts) - 1:
        node = node[part]
    if hasattr(node[parts[-1]], "keys"):
      raise SweepError(f"{where}: {dotted!r} is a group of fields; override its leaves")
    try:
      node[parts[-1]] = value
    except (TypeError, ValueError, AttributeError) as e:
      raise SweepError(f"{where}: config field {dotted!r}: {e}") from e
  return c


def expand(sweep: Sweep) -> list[Run]:
  """Every run of the sweep, each override checked against the base config."""
  if sweep.main not in MAINS and not main_path(sweep.main).is_file():
    raise SweepError(f"sweep.main: unknown main {sweep.main!r}; known: {sorted(MAINS)} or a "
                     ".py file")
  seeds = list(sweep.seeds)
  if not seeds:
    raise SweepError("sweep.seeds: a sweep needs at least one seed")
  if len(set(seeds)) != len(seeds) or not all(isinstance(s, int) for s in seeds):
    raise SweepError(f"sweep.seeds: must be distinct ints, got {seeds}")
  points = list(sweep.axes) or [Point((), {})]
  names = [p.name for p in points]
  if len(set(names)) != len(names):
    raise SweepError(f"sweep.axes: point names repeat: {names}")
  if sweep.baseline and sweep.baseline not in names:
    raise SweepError(f"sweep.baseline: {sweep.baseline!r} is not a point; points: {names}")
  for _, kind in sweep.metrics:
    if kind not in METRIC_KINDS:
      raise SweepError(f"sweep.metrics: kind must be one of {METRIC_KINDS}, got {kind!r}")
  base = base_config(sweep)
  validate = _VALIDATORS.get(sweep.main)
  runs = []
  # Seed-major: a sweep stopped part-way has every point at its first seeds, not some points
  # with all seeds and others with none.
  for seed in seeds:
    for p in points:
      name = f"{p.name}.seed-{seed}"
      overrides = {**sweep.overrides, **p.overrides, sweep.seed_field: seed}
      # '{seed}' in a string value names a per-seed input, e.g. the model a run evaluates.
      overrides = {k: v.replace("{seed}", str(seed)) if isinstance(v, str) else v
                   for k, v in overrides.items()}
      config = apply_overrides(base, overrides, f"run {name}")
      if validate is not None:
        try:
          validate(config)
        except ValueError as e:
          raise SweepError(f"run {name}: {e}") from e
      runs.append(Run(name, p.name, seed, overrides))
  return runs


def _validate_rl(config):
  from r1jax.train import setup  # pylint: disable=g-import-not-at-top
  setup.validate_config(config)


# Static config checks of a main (no devices), run for every run before the sweep starts.
_VALIDATORS = {"grpo": _validate_rl}
