"""Eval completions table: samples.jsonl rows and a TensorBoard text summary per evaluation."""
import json
import struct

from tensorboardX.proto import event_pb2

from r1jax.eval import samples_log


def _events(logdir):
  """Every Event of the TFRecord event files under `logdir` (length, crc, data, crc)."""
  out = []
  for path in sorted(logdir.glob("events.out.tfevents.*")):
    data = path.read_bytes()
    i = 0
    while i < len(data):
      (n,) = struct.unpack("<Q", data[i:i + 8])
      ev = event_pb2.Event()
      ev.ParseFromString(data[i + 12:i + 12 + n])
      out.append(ev)
      i += 12 + n + 4
  return out


def test_samples_go_to_jsonl_and_tensorboard_text(tmp_path):
  hostile = "x | y\n<script>" + "9" * 2000
  samples = [{"prompt": "1+2", "completion": "<answer>3</answer>", "answer": "3",
              "correct": True},
             {"prompt": "4-1", "completion": hostile, "answer": "3", "correct": False}]
  samples_log.write(tmp_path, 20, samples)
  samples_log.write(tmp_path, 40, samples[:1])
  samples_log.write(tmp_path, 60, samples, process_index=1)  # Not the writing process.
  rows = [json.loads(l) for l in (tmp_path / "samples.jsonl").read_text().splitlines()]
  assert [(r["step"], r["reward"]) for r in rows] == [(20, 1.0), (20, 0.0), (40, 1.0)]
  assert rows[1]["completion"] == hostile  # The JSONL keeps the text whole.
  texts = {}
  for ev in _events(tmp_path / "tensorboard"):
    for v in ev.summary.value:
      if v.tag.startswith(samples_log.TAG):
        texts[ev.step] = v.tensor.string_val[0].decode()
  assert sorted(texts) == [20, 40]
  lines = texts[20].splitlines()
  assert lines[4] == "| 1+2 | &lt;answer>3&lt;/answer> | 3 | 1 |"
  # One row per completion: pipes and newlines escaped, long output cut.
  assert lines[5].startswith("| 4-1 | x \\| y<br>&lt;script>999") and lines[5].endswith(
      "... | 3 | 0 |")
  assert len(lines) == 6 and len(lines[5]) < samples_log.MAX_CHARS + 60
