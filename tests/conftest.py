"""Test setup: 8 forced host devices (set before JAX is imported anywhere)."""
import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data_dir():
  """The benchmark data beside the checkout (../shared/data); skipped if absent, except in CI
  (CI set), where a missing folder must fail loudly rather than silently skip the tests."""
  d = REPO.parent / "shared" / "data"
  if not d.is_dir():
    if os.environ.get("CI"):
      pytest.fail(f"shared data not found at {d} (CI is set: tests must not skip)")
    pytest.skip(f"shared data not found at {d}")
  return d
