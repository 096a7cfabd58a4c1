"""Test setup: 8 forced host devices compiling fast (tests/xla_env.py) and a per-session
compilation cache (set before JAX is imported anywhere)."""
import os

import xla_env

for _key, _value in xla_env.env(8).items():
  os.environ.setdefault(_key, _value)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import atexit
import pathlib
import shutil
import tempfile

# One persistent compilation cache per test session, shared with the subprocesses tests start
# (they inherit the environment): the suite's many tiny trainer, sampler and main runs compile
# the same programs again and again. A fresh folder each session, removed at exit, so nothing
# compiled by other code is ever reused.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _CACHE = tempfile.mkdtemp(prefix="r1jax-tests-jit-")
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
  atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data_dir():
  """The benchmark data beside the checkout (../shared/data); skipped if absent, except in CI
  (CI set), where a missing folder must fail loudly rather than silently skip the tests."""
  # The nearest ancestor's shared/data: beside the checkout, or beside the checkout that holds
  # this copy of the tests (mutmut runs them from <checkout>/mutants/).
  found = [p / "shared" / "data" for p in REPO.parents if (p / "shared" / "data").is_dir()]
  d = found[0] if found else REPO.parent / "shared" / "data"
  if not d.is_dir():
    if os.environ.get("CI"):
      pytest.fail(f"shared data not found at {d} (CI is set: tests must not skip)")
    pytest.skip(f"shared data not found at {d}")
  return d


# The next-longest files (minutes each on 2 cores), started right after the learning runs.
LONG_FILES = ("findings_smoke_test.py", "distributed_test.py")


def pytest_collection_modifyitems(config, items):  # pylint: disable=unused-argument
  """The learning runs are the longest test file: collected first, they start first, then the
  other long files, and the xdist workers share everything else meanwhile (instead of one
  worker finishing a long file alone at the end)."""
  def order(item):
    if item.get_closest_marker("learning"):
      return 0
    return 1 if item.path.name in LONG_FILES else 2
  items.sort(key=order)
