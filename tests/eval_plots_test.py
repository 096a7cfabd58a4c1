"""Each plot writer produces a real PNG (signature, header size, non-trivial bytes)."""
import struct
import subprocess
import sys

import pytest

from r1jax.eval import plots
from r1jax.train import metrics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path, min_bytes=5_000):
  data = path.read_bytes()
  assert data[:8] == PNG_SIGNATURE
  assert data[12:16] == b"IHDR"
  width, height = struct.unpack(">II", data[16:24])
  assert width >= 300 and height >= 200
  assert len(data) > min_bytes  # axes, lines and labels, not an empty canvas


def test_plot_curves_from_jsonl(tmp_path):
  w = metrics.MetricsWriter(tmp_path)
  for step in range(1, 21):
    scalars = {"reward/mean": step / 20}
    if step % 5 == 0:
      scalars["eval/accuracy"] = float("nan") if step == 10 else step / 40
    w.write(step, scalars)
  w.close()
  records = metrics.read_jsonl(tmp_path / "metrics.jsonl")
  out = plots.plot_curves(records, ["reward/mean", "eval/accuracy"],
                          tmp_path / "png" / "curves.png", "GRPO tiny")
  assert out == tmp_path / "png" / "curves.png"
  _assert_png(out)


def test_plot_curves_from_records_and_errors(tmp_path):
  records = [{"step": 2, "loss": 0.5}, {"step": 1, "loss": 1.0}]
  _assert_png(plots.plot_curves(records, ["loss"], tmp_path / "c.png", "loss"))
  with pytest.raises(ValueError, match="no finite values for key 'acc'"):
    plots.plot_curves(records, ["loss", "acc"], tmp_path / "bad.png", "")
  with pytest.raises(ValueError, match="record 0 has no 'step'"):
    plots.plot_curves([{"loss": 1.0}], ["loss"], tmp_path / "bad.png", "")
  assert not (tmp_path / "bad.png").exists()


def test_plot_budget_curve(tmp_path):
  out = plots.plot_budget_curve([1024, 256, 512, 2048], [0.45, 0.30, 0.41, 0.47],
                                tmp_path / "budget.png")
  _assert_png(out)
  with pytest.raises(ValueError, match="2 budgets vs 1 accuracies"):
    plots.plot_budget_curve([1, 2], [0.5], tmp_path / "x.png")


def test_plot_scaling_curve(tmp_path):
  ks = [1, 2, 4, 8, 16]
  out = plots.plot_scaling_curve(
      ks, {"maj@k": [0.30, 0.33, 0.38, 0.41, 0.42], "pass@k": [0.30, 0.42, 0.55, 0.66, 0.74]},
      tmp_path / "scaling.png")
  _assert_png(out)
  with pytest.raises(ValueError, match="series 'maj@k' has 2 values for 5 ks"):
    plots.plot_scaling_curve(ks, {"maj@k": [0.1, 0.2]}, tmp_path / "x.png")


def test_matplotlib_is_imported_on_the_first_plot_only():
  """Importing the trainer, compare or the scaling report loads no matplotlib (~0.9 CPU-s, paid
  by every evaluation, sweep and SFT process otherwise); the first plot loads it, on Agg."""
  code = """if True:
    import sys, tempfile, pathlib
    import r1jax.train.rl_trainer, r1jax.eval.compare, r1jax.eval.scaling_report
    from r1jax.eval import plots
    assert "matplotlib" not in sys.modules, "imported before any plot"
    out = plots.plot_budget_curve([1, 2], [0.1, 0.2], pathlib.Path(tempfile.mkdtemp()) / "b.png")
    import matplotlib
    assert out.is_file() and matplotlib.get_backend().lower() == "agg"
  """
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
