"""A small table of sampled eval completions with their rewards, logged at every evaluation.

  samples_log.write(workdir, step, eval_result.samples)

Each row (prompt, completion, answer, reward) goes to `<workdir>/samples.jsonl` (one JSON object
per row, with its step) and the rows of a step become one markdown table in TensorBoard's
Text tab (tag "eval/samples", event files under <workdir>/tensorboard), as TRL and veRL log
completions. The reward is the accuracy reward that defines "correct" (1 or 0). Completions
are model output: they are escaped for the table and truncated to MAX_CHARS, never run.
"""
from __future__ import annotations

import json
import os
import pathlib
from typing import Mapping, Sequence

SAMPLES_NAME = "samples.jsonl"
TAG = "eval/samples"
MAX_CHARS = 500  # Per cell: a runaway completion must not bloat the event file.


def _cell(x) -> str:
  s = "" if x is None else str(x)
  s = s if len(s) <= MAX_CHARS else s[:MAX_CHARS] + "..."
  # Markdown table cells: pipes and newlines would break the row; '<' would start HTML.
  return (s.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
          .replace("\n", "<br>"))


def table(step: int, rows: Sequence[Mapping]) -> str:
  lines = [f"Eval samples at step {step}", "", "| prompt | completion | answer | reward |",
           "|---|---|---|---|"]
  lines += [f"| {_cell(r.get('prompt'))} | {_cell(r.get('completion'))} | "
            f"{_cell(r.get('answer'))} | {float(r.get('reward', 0.0)):g} |" for r in rows]
  return "\n".join(lines)


def write(workdir, step: int, samples: Sequence[Mapping], process_index: int = 0) -> None:
  """Appends `samples` (dicts with prompt, completion, answer and correct or reward) at `step`
  to samples.jsonl and TensorBoard; process 0 only."""
  if process_index != 0 or not samples:
    return
  rows = [{"step": int(step), "prompt": s.get("prompt"), "completion": s.get("completion"),
           "answer": s.get("answer"),
           "reward": float(s["reward"] if "reward" in s else bool(s.get("correct")))}
          for s in samples]
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  with open(workdir / SAMPLES_NAME, "a", encoding="utf-8") as f:
    for r in rows:
      f.write(json.dumps(r, default=str) + "\n")
  # Imported here: only the writing process pays for tensorboardX.
  from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  # A file per call (named by process and step: two calls in one second must not share a
  # name, or the second would overwrite the first); TensorBoard reads every file of the dir.
  tb = SummaryWriter(logdir=str(workdir / "tensorboard"),
                     filename_suffix=f".samples.{os.getpid()}.{int(step)}")
  try:
    tb.add_text(TAG, table(step, rows), global_step=int(step))
  finally:
    tb.close()
