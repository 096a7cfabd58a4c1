"""Experiment files by path: get_config with and without an arg, relative to the repository,
and clear errors naming the flag and file."""
import pytest

from r1jax import experiment_files


def _write(tmp_path, name, text):
  path = tmp_path / name
  path.write_text(text)
  return path


def test_load_config_passes_the_arg_or_calls_bare(tmp_path):
  path = _write(tmp_path, "c.py", "def get_config(arg='bare'):\n  return {'arg': arg}\n")
  assert experiment_files.load_config(str(path)) == {"arg": "bare"}
  assert experiment_files.load_config(f"{path}:tiny") == {"arg": "tiny"}
  assert experiment_files.load_config(path, "x:y") == {"arg": "x:y"}  # Path and arg apart.
  assert experiment_files.load_config(path, "") == {"arg": "bare"}


def test_a_config_file_can_build_on_a_sibling(tmp_path):
  _write(tmp_path, "base.py", "def get_config(arg=None):\n  return {'n': 1, 'arg': arg}\n")
  child = _write(tmp_path, "child.py", (
      "import pathlib\nfrom r1jax.experiment_files import load_config\n"
      "def get_config(arg=None):\n"
      "  c = load_config(pathlib.Path(__file__).with_name('base.py'), arg or '')\n"
      "  c['n'] += 1\n  return c\n"))
  assert experiment_files.load_config(f"{child}:v") == {"n": 2, "arg": "v"}
  assert experiment_files.load_config(str(child)) == {"n": 2, "arg": None}


def test_files_resolve_against_the_repository():
  c = experiment_files.load_config("experiments/configs/arith_length.py:dr_grpo")
  assert c.rl.algorithm == "dr_grpo" and c.data.knobs.recheck_rate == 0.5


def test_errors_name_the_flag_and_file(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"--config: file 'nope\.py' not found"):
    experiment_files.load_config("nope.py")
  path = _write(tmp_path, "s.py", "X = 1\n")
  with pytest.raises(ValueError, match=r"sweep\.config: .*s\.py defines no get_config"):
    experiment_files.load_config(str(path), flag="sweep.config")
