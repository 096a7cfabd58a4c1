"""MetricsWriter (TensorBoard events + exact JSONL), read_jsonl, ConsoleProgress, Timer."""
import io
import json
import math
import struct
import time

import jax.numpy as jnp
import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from r1jax.train import metrics


def _read_events(path):
  """Scalar (step, tag, value) triples from a TFRecord event file, parsed without TensorFlow."""
  out = []
  data = path.read_bytes()
  pos = 0
  while pos < len(data):
    (length,) = struct.unpack("<Q", data[pos:pos + 8])
    pos += 12  # length + its masked CRC
    event = event_pb2.Event.FromString(data[pos:pos + length])
    pos += length + 4  # payload + its masked CRC
    for v in event.summary.value:
      out.append((event.step, v.tag, v.simple_value))
  return out


def test_writer_jsonl_exact_and_tensorboard_readable(tmp_path):
  w = metrics.MetricsWriter(tmp_path)
  w.write(1, {"reward/mean": 0.5, "loss": np.float32(0.25), "kl": jnp.asarray(0.125),
              "n": np.int64(3), "half": jnp.asarray(1.5, jnp.bfloat16)})
  w.write(2, {"reward/mean": float("nan"), "loss": np.inf, "kl": -np.inf})
  w.close()
  lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
  assert lines == [
      '{"step": 1, "reward/mean": 0.5, "loss": 0.25, "kl": 0.125, "n": 3.0, "half": 1.5}',
      '{"step": 2, "reward/mean": "nan", "loss": "inf", "kl": "-inf"}',
  ]
  for line in lines:  # strict JSON: no bare NaN/Infinity tokens
    json.loads(line, parse_constant=lambda c: pytest.fail(f"non-standard constant {c}"))
  records = metrics.read_jsonl(tmp_path / "metrics.jsonl")
  assert records[0] == {"step": 1, "reward/mean": 0.5, "loss": 0.25, "kl": 0.125, "n": 3.0,
                        "half": 1.5}
  assert math.isnan(records[1]["reward/mean"])
  assert records[1]["loss"] == math.inf and records[1]["kl"] == -math.inf

  event_files = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
  assert len(event_files) == 1 and event_files[0].stat().st_size > 0
  scalars = _read_events(event_files[0])
  assert (1, "reward/mean", 0.5) in scalars and (1, "half", 1.5) in scalars
  assert (2, "loss", math.inf) in scalars
  assert len(scalars) == 8


def test_writer_appends_on_resume(tmp_path):
  w = metrics.MetricsWriter(tmp_path)
  w.write(1, {"a": 1.0})
  w.close()
  w = metrics.MetricsWriter(tmp_path)
  w.write(2, {"a": 2.0})
  w.close()
  assert [r["step"] for r in metrics.read_jsonl(tmp_path / "metrics.jsonl")] == [1, 2]


def test_non_zero_process_writes_nothing(tmp_path):
  w = metrics.MetricsWriter(tmp_path / "run", process_index=1)
  w.write(1, {"a": 1.0})
  w.flush()
  w.close()
  assert not (tmp_path / "run").exists()


def test_bad_values_are_named(tmp_path):
  w = metrics.MetricsWriter(tmp_path)
  with pytest.raises(ValueError, match="'vec' must be a numeric scalar"):
    w.write(1, {"vec": np.ones(3)})
  with pytest.raises(ValueError, match="'name' must be a numeric scalar"):
    w.write(1, {"name": "x"})
  with pytest.raises(ValueError, match="'step' is reserved"):
    w.write(1, {"step": 1})
  w.close()
  assert (tmp_path / "metrics.jsonl").read_text() == ""


def test_read_jsonl_names_bad_line(tmp_path):
  p = tmp_path / "m.jsonl"
  p.write_text('{"step": 1}\n\n{"step": 2\n')
  with pytest.raises(ValueError, match=r"m\.jsonl:3: invalid JSON"):
    metrics.read_jsonl(p)
  p.write_text('[1, 2]\n')
  with pytest.raises(ValueError, match=r"m\.jsonl:1: expected a JSON object"):
    metrics.read_jsonl(p)


def test_console_progress_line_and_eta():
  out = io.StringIO()
  progress = metrics.ConsoleProgress(1000, keys=("reward", "acc", "absent"), stream=out)
  progress.log(10, {"reward": 0.51234, "acc": np.float32(0.25), "other": 1.0}, 2.0)
  line = progress.log(20, {"reward": 0.6, "acc": 0.5}, 4.0)
  # Mean 3.0 s/step over 980 remaining steps = 2940 s.
  assert line == "step 20/1000 | reward 0.6 | acc 0.5 | 4.00 s/step | ETA 0:49:00"
  assert out.getvalue().splitlines() == [
      "step 10/1000 | reward 0.5123 | acc 0.25 | 2.00 s/step | ETA 0:33:00", line]
  assert metrics.format_hms(3 * 3600 + 62.4) == "3:01:02"
  quiet = io.StringIO()
  metrics.ConsoleProgress(5, process_index=2, stream=quiet).log(1, {}, 1.0)
  assert quiet.getvalue() == ""


def test_timer_accumulates_phases():
  timer = metrics.Timer()
  with timer("sampling"):
    time.sleep(0.02)
  for _ in range(2):
    with timer("update"):
      time.sleep(0.01)
  with pytest.raises(RuntimeError), timer("rewards"):
    raise RuntimeError("phase failed")
  secs = timer.seconds(prefix="time/")
  assert set(secs) == {"time/sampling", "time/update", "time/rewards"}
  # Sleeps last at least as long as asked; the upper bound is generous for a busy machine.
  assert 0.02 <= secs["time/sampling"] < 1.0
  assert 0.02 <= secs["time/update"] < 1.0


def test_torn_last_row_is_dropped_and_reported(tmp_path):
  w = metrics.MetricsWriter(tmp_path)
  w.write(1, {"a": 1.0})
  w.close()
  with open(tmp_path / "metrics.jsonl", "a") as f:
    f.write('{"step": 2, "a": 0.')  # A kill or a full disk in the middle of a row.
  notes = []
  w = metrics.MetricsWriter(tmp_path, log=notes.append)
  w.write(2, {"a": 2.0})
  w.close()
  assert len(notes) == 1 and "metrics.jsonl:2: dropped a torn last row (19 bytes" in notes[0]
  assert metrics.read_jsonl(tmp_path / "metrics.jsonl") == [{"step": 1, "a": 1.0},
                                                             {"step": 2, "a": 2.0}]


def test_discard_after_keeps_rows_up_to_the_resumed_step(tmp_path):
  w = metrics.MetricsWriter(tmp_path)
  for step in (-2, 0, 1, 2, 3):
    w.write(step, {"a": float(step)})
  w.close()
  notes = []
  w = metrics.MetricsWriter(tmp_path, log=notes.append)
  assert w.discard_after(1) == 2
  w.write(2, {"a": 20.0})
  w.close()
  assert [(r["step"], r["a"]) for r in metrics.read_jsonl(tmp_path / "metrics.jsonl")] == [
      (-2, -2.0), (0, 0.0), (1, 1.0), (2, 20.0)]
  assert "dropped 2 row(s)" in notes[0]
  w = metrics.MetricsWriter(tmp_path, log=notes.append)
  assert w.discard_after(None) == 4  # A fresh start: every earlier row is redone.
  w.close()
  assert metrics.read_jsonl(tmp_path / "metrics.jsonl") == []


_FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # Writes past the limit fail with EFBIG instead.
from r1jax.train import metrics
w = metrics.MetricsWriter(sys.argv[1])
w.write(1, {"a": 1.0})
size = (metrics.pathlib.Path(sys.argv[1]) / "metrics.jsonl").stat().st_size
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 30, size + 30))  # Room for part of a row.
w.write(2, {"a_long_metric_name_that_does_not_fit": 2.0})
"""


def test_full_disk_raises_one_line_and_leaves_no_torn_row(tmp_path):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  proc = subprocess.run([sys.executable, "-c", _FULL_DISK, str(tmp_path)], capture_output=True,
                        text=True, timeout=120)
  assert proc.returncode != 0
  # (tensorboardX's writer thread fails too, in its own words.)
  last = [l for l in proc.stderr.splitlines() if l.startswith("r1jax.train.metrics.")][-1]
  assert "MetricsWriteError: writing the metrics row of step 2 to " in last, proc.stderr
  assert str(tmp_path / "metrics.jsonl") in last and "File too large" in last
  assert metrics.read_jsonl(tmp_path / "metrics.jsonl") == [{"step": 1, "a": 1.0}]
