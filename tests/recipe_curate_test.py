"""SFT-set curation (finding 9): verification, the three selections, and the files written."""
import json
import random

import pytest

from r1jax.data import sources
from r1jax.recipe import curate

KNOBS = dict(difficulty="easy", min_ops=3, max_ops=3, digits=1, operators="+-",
             truncate_rate=0.5)


def _pool(n=600):
  src = sources.get_source("arith", None, "train", "plain", **KNOBS)
  return [src[i] for i in range(n)]


def test_verified_rejects_exactly_the_sloppy_traces():
  pool = _pool()
  clean = sources.get_source("arith", None, "train", "plain", **{**KNOBS, "truncate_rate": 0.0})
  for i, ex in enumerate(pool):
    # A trace is sloppy iff the teacher cut it (it then answers an intermediate result).
    assert curate.verified(ex) == (ex["completion"] == clean[i]["completion"]), ex
  bad_step = dict(pool[0], completion=pool[0]["completion"].replace("=", "=1", 1))
  assert not curate.verified(bad_step)


def test_selections():
  pool = _pool()
  rng = lambda: random.Random(0)
  rand = curate.select(pool, 200, "random", rng())
  assert 0.35 < sum(map(curate.verified, rand)) / 200 < 0.65  # The teacher's own mix.
  assert curate.select(pool, 200, "random", rng()) == rand  # Deterministic per generator.
  ver = curate.select(pool, 200, "verified", rng())
  assert all(map(curate.verified, ver)) and len({e["id"] for e in ver}) == 200
  cur = curate.select(pool, 40, "curated", rng())
  assert all(map(curate.verified, cur)) and len({e["id"] for e in cur}) == 40
  # Round robin over operator patterns: every pattern of the verified pool appears, and no
  # pattern is taken twice more often than another (while each still has traces left).
  patterns = [curate.pattern(e) for e in cur]
  counts = {p: patterns.count(p) for p in set(patterns)}
  assert set(counts) == {curate.pattern(e) for e in pool if curate.verified(e)}
  assert max(counts.values()) - min(counts.values()) <= 1
  # Hardest first within a pattern: a pattern's first pick is its hardest verified trace.
  for p in counts:
    first = next(e for e in cur if curate.pattern(e) == p)
    assert curate.difficulty(first) == max(curate.difficulty(e) for e in pool
                                           if curate.verified(e) and curate.pattern(e) == p)
  with pytest.raises(ValueError, match="only .* candidates for a set of 600; raise --pool"):
    curate.select(pool, 600, "verified", rng())
  with pytest.raises(ValueError, match="unknown selection 'best'"):
    curate.select(pool, 1, "best", rng())


def test_cli_writes_every_set_for_every_seed(tmp_path):
  assert curate.main(["--config=experiments/configs/arith_tiny.py", f"--out={tmp_path}",
                      "--sizes=10,20", "--seeds=0,1", "--pool=300"]) == 0
  info = json.loads((tmp_path / "sets.json").read_text())
  assert len(info["sets"]) == 2 * 3 * 2
  a = (tmp_path / "random-20.seed-0.jsonl").read_text()
  b = (tmp_path / "random-20.seed-1.jsonl").read_text()
  assert a != b  # Each seed draws other subsets.
  rows = [json.loads(l) for l in a.splitlines()]
  assert len(rows) == 20 and set(rows[0]) == {"prompt", "completion", "answer", "id"}
  assert info["sets"]["verified-10.seed-1.jsonl"]["verified"] == 1.0
  assert sources.read_distillation(tmp_path / "curated-10.seed-0.jsonl", "plain")[0]["prompt"] \
      == json.loads((tmp_path / "curated-10.seed-0.jsonl").read_text().splitlines()[0])["prompt"]
  assert curate.main(["--config=experiments/configs/arith_tiny.py", f"--out={tmp_path}",
                      "--sizes=10", "--seeds=0", "--pool=10"]) == 2  # Too few verified.
