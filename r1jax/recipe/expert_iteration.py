"""Expert iteration (Havrilla et al. 2024, arXiv 2403.04642), driven by a config.

  round 0: the initial model (a checkpoint, or SFT on reference traces), evaluated
  round r = 1..R:
    D_r   = rejection sampling from the model of round r - 1 on the training prompts
    U_r   = D_1 u ... u D_r, de-duplicated by (prompt, completion)
    pi_r  = SFT from the INITIAL model on U_r
    eval pi_r on the held-out split

Every round lives in workdir/round_{r}/ (rs/ the dataset, union.jsonl, model/, eval.json);
a round whose eval.json exists is finished, so rerunning the command after an interruption
skips finished rounds and resumes the rest (rejection sampling by shard, SFT by checkpoint).
Outputs: ei_summary.md / .json (a row per round) and ei_pass_at_1.png.
"""
from __future__ import annotations

import json
import pathlib
from typing import Any, Callable, Sequence

from r1jax.data import sources
from r1jax.eval import plots
from r1jax.models import orbax_io
from r1jax.recipe import rejection_sampling as rs_lib
from r1jax.recipe import runtime, sft, shards
from r1jax.train import setup as setup_lib

EVAL_FILE = "eval.json"
UNION_FILE = "union.jsonl"


def union(datasets: Sequence[Sequence[dict]]) -> list[dict]:
  """Rows of all datasets in order, each (prompt, whitespace-normalised completion) once."""
  out, seen = [], set()
  for rows in datasets:
    for row in rows:
      key = (row["prompt"], " ".join(row["completion"].split()))
      if key not in seen:
        seen.add(key)
        out.append(row)
  return out


def _round_dir(workdir: pathlib.Path, r: int) -> pathlib.Path:
  return workdir / f"round_{r}"


def _load_params(model_dir, rt: runtime.Runtime, config):
  _, params = orbax_io.load_orbax(model_dir, rt.mesh, rt.rules)
  return params


def _initial_model(config, workdir: pathlib.Path, rt: runtime.Runtime, log):
  """Round 0: the config's checkpoint as is, or SFT (warm_start) on reference traces."""
  ws = config.warm_start
  if ws.sft_steps <= 0:
    if rt.checkpoint["kind"] == "preset":
      raise setup_lib.ConfigError(
          "config.model.init_checkpoint: expert iteration needs a starting model that solves "
          "some problems: give a checkpoint or set warm_start.sft_steps")
    return rt.params
  model_dir = _round_dir(workdir, 0) / "model"
  if model_dir.is_dir():
    return _load_params(model_dir, rt, config)
  # Round 0 is the warm start: its optimizer fields from warm_start, the rest from sft.
  cfg = sft.SFTConfig.from_config(
      config.sft, steps=ws.sft_steps, batch_size=ws.batch_size, max_len=ws.max_len,
      lr=ws.lr, warmup_steps=ws.warmup_steps, schedule=ws.schedule, weight_decay=0.0,
      grad_clip=1.0, pack=False, seed=config.seed)
  runtime.check_batch("warm_start.batch_size", cfg.batch_size, rt.mesh)
  log(f"round 0: warm start, {cfg.steps} SFT steps on {config.data.source} traces")
  params = sft.finetune(rt.params, rt.model_config,
                        runtime.source(config, config.data.train_split), rt.tokenizer, cfg,
                        mesh=rt.mesh, rules=rt.rules, workdir=_round_dir(workdir, 0) / "sft",
                        log=log)
  sft.save_model(model_dir, rt.model_config, params)
  return params


def _evaluate(config, rt, params, round_dir: pathlib.Path, extra: dict, log) -> dict:
  path = round_dir / EVAL_FILE
  if path.is_file():
    return json.loads(path.read_text())
  metrics = {**sft.evaluate(config, rt, params), **extra}
  round_dir.mkdir(parents=True, exist_ok=True)
  shards.write_atomic(path, json.dumps(metrics, indent=2, sort_keys=True))
  log(f"{round_dir.name}: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                        for k, v in metrics.items()))
  return metrics


def summarize(history: list[dict], workdir: pathlib.Path) -> str:
  """Markdown table (also written to ei_summary.md/.json) and the pass@1 plot."""
  keys = [k for k in history[0] if k.startswith("eval/") and k != "eval/num_problems"]
  head = ["round", "kept", "union"] + keys
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for h in history:
    cells = [str(h["round"]), str(h.get("kept", "-")), str(h.get("union", "-"))]
    cells += [f"{h[k]:.4f}" for k in keys]
    lines.append("| " + " | ".join(cells) + " |")
  table = "\n".join(lines)
  shards.write_atomic(workdir / "ei_summary.md", table + "\n")
  shards.write_atomic(workdir / "ei_summary.json", json.dumps(history, indent=2))
  plots.plot_curves([{"step": h["round"], **h} for h in history], ["eval/pass@1"],
                    workdir / "ei_pass_at_1.png", title="Expert iteration: held-out pass@1")
  return table


def run(config, workdir, log: Callable[[str], Any] = print) -> dict:
  """The ei_main command; returns {'history': [per-round metrics], 'table': markdown}."""
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  setup_lib.validate_config(config)
  if config.ei.rounds < 1:
    raise setup_lib.ConfigError(f"config.ei.rounds: must be >= 1, got {config.ei.rounds}")
  rs = rs_lib.config_from(config)
  rt = runtime.load(config, require_checkpoint=config.warm_start.sft_steps <= 0)
  sft_cfg = sft.SFTConfig.from_config(config.sft)
  for field, value in (("sft.batch_size", sft_cfg.batch_size),
                       ("rs.prompts_per_batch", config.rs.prompts_per_batch),
                       ("eval.batch_size", config.eval.batch_size)):
    runtime.check_batch(field, value, rt.mesh)
  (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))

  initial = _initial_model(config, workdir, rt, log)
  history = [{"round": 0, **_evaluate(config, rt, initial, _round_dir(workdir, 0), {}, log)}]
  prompts = rs_lib.prompts(config, rt.tokenizer, log)
  specs = rs_lib.graded_specs(setup_lib.reward_specs(config), rs, dict(config.reward_params))
  sampler_cfg = runtime.sampler_config(config, rt.tokenizer, rt.model_config)
  datasets, current = [], initial
  for r in range(1, config.ei.rounds + 1):
    rd = _round_dir(workdir, r)
    finished = (rd / EVAL_FILE).is_file()
    if not finished:
      source = ({"kind": "ei_initial", **rt.checkpoint} if r == 1 else
                {"kind": "ei_round", "path": str((_round_dir(workdir, r - 1) / "model")
                                                 .absolute())})
      rs_lib.run(current, rt.model_config, rt.tokenizer, prompts, rd / "rs", rs=rs,
                 sampler_cfg=sampler_cfg, specs=specs,
                 batch_size=config.rs.prompts_per_batch,
                 shard_prompts=config.rs.shard_prompts,
                 prompt_len=config.data.max_prompt_len, seed=config.seed, salt=r,
                 checkpoint=source, config=json.loads(config.to_json_best_effort()),
                 mesh=rt.mesh, rules=rt.rules, log=log)
    rows, _ = shards.load(rd / "rs")
    before = len(union(datasets))
    datasets.append(rows)
    merged = union(datasets)
    if finished:
      history.append({"round": r, **json.loads((rd / EVAL_FILE).read_text())})
      current = None  # Loaded below only if a later round still needs to sample from it.
      continue
    if current is None:
      current = _load_params(_round_dir(workdir, r - 1) / "model", rt, config)
    if not merged:
      raise ValueError(f"round {r}: rejection sampling kept no sample; the model of round "
                       f"{r - 1} solves none of the {len(prompts)} prompts")
    shards.write_atomic(rd / UNION_FILE, shards.rows_text(merged))
    model_dir = rd / "model"
    if model_dir.is_dir():
      current = _load_params(model_dir, rt, config)
    else:
      log(f"round {r}: SFT from the initial model on the union of {len(merged)} samples "
          f"({len(merged) - before} new)")
      train = sources.ExampleList(f"ei/round_{r}",
                                  sources.read_distillation(rd / UNION_FILE, "plain"))
      current = sft.finetune(initial, rt.model_config, train, rt.tokenizer, sft_cfg,
                             mesh=rt.mesh, rules=rt.rules, workdir=rd / "sft", log=log)
      sft.save_model(model_dir, rt.model_config, current)
    history.append({"round": r, **_evaluate(config, rt, current, rd,
                                            {"kept": len(rows), "union": len(merged)}, log)})
  table = summarize(history, workdir)
  log("\nExpert iteration, held-out evaluation per round:\n" + table)
  return {"history": history, "table": table}
