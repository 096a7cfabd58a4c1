"""Test-time scaling and thinking efficiency on one benchmark task.

Shape legend: N completions, T max new tokens.

For a task (a list of examples with gold answers) `evaluate_task` measures:
  * greedy pass@1, and from n = max(ks) samples per problem the sampled mean pass@1, the
    unbiased pass@k and maj@k for every k in ks (parallel scaling, self-consistency);
  * token counts: completion tokens and thinking tokens (up to the end-of-thinking token);
  * a budget-forcing sweep (s1, sequential scaling): greedy decoding with thinking capped at each
    budget ('cap'), or also extended to it by appending "Wait" ('force'); accuracy, thinking
    tokens used and whether every completion stayed within its budget, plus s1's Control,
    Scaling and Performance;
  * TIP (thought-switching penalty) on vs off, greedy (and sampled with tip_sampled): accuracy,
    tokens and thought switches per completion;
  * overthinking efficiency on the samples: tokens up to the first correct answer, outcome
    efficiency xi_O and the share of tokens after the first correct answer.
`write_report` turns the results of several tasks into eval_summary.md / .json and PNG plots
of accuracy vs thinking budget and vs k.
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from typing import Any, Callable, Sequence

import numpy as np

from r1jax import sharding
from r1jax.data import pipeline, sources
from r1jax.eval import metrics as eval_metrics
from r1jax.eval import plots
from r1jax.eval.evaluate import answer_key
from r1jax.recipe import generation, runtime, shards
from r1jax.rewards import length as length_lib
from r1jax.rewards import registry as rewards_registry
from r1jax.sampling import spellings as spellings_lib
from r1jax.sampling.sampler import Sampler, SamplerConfig
from r1jax.train import setup as setup_lib

BUDGET_MODES = ("cap", "force")


@dataclasses.dataclass(frozen=True)
class Settings:
  """What to measure; token ids come from the tokenizer (see eval_main's config). The fields
  read from config.test_time have no defaults here: recipe/defaults.py documents them, and
  `settings` builds one from a config."""
  ks: tuple[int, ...]  # maj@k / pass@k; max(ks) samples per problem; () is off.
  temperature: float  # Of the samples.
  budgets: tuple[int, ...]  # Thinking budgets in tokens; () is off.
  budget_mode: str  # 'cap' (max_think_tokens) or 'force' (min = max: wait to it).
  max_waits: int  # At most this many appended waits per completion ('force').
  tip_alpha: float  # TIP penalty on the thought-switch logits.
  tip_beta: int  # TIP window in tokens from the start of each thought.
  think_end_id: int = -1  # The end-of-thinking token ('</think>') when it is one token.
  think_end_seqs: tuple[tuple[int, ...], ...] = ()  # Else its spellings (spellings.py).
  wait_ids: tuple[int, ...] = ()  # Appended when thinking would end early ('force').
  answer_prefix_ids: tuple[int, ...] = ()  # Appended after a forced end of thinking.
  tip_ids: tuple[int, ...] = ()  # Thought-switch tokens; () (and no tip_seqs) skips TIP.
  tip_seqs: tuple[tuple[int, ...], ...] = ()  # Thought-switch words of several tokens.
  tip_sampled: bool = False  # TIP also on max(ks) samples per problem (the sampled run's seeds).

  def __post_init__(self):
    object.__setattr__(self, "ks", tuple(sorted(set(int(k) for k in self.ks))))
    object.__setattr__(self, "budgets", tuple(sorted(set(int(b) for b in self.budgets))))
    if any(k < 1 for k in self.ks):
      raise ValueError(f"test_time.ks must be >= 1, got {self.ks}")
    if any(b < 1 for b in self.budgets):
      raise ValueError(f"test_time.budgets must be >= 1 token, got {self.budgets}")
    if self.budget_mode not in BUDGET_MODES:
      raise ValueError(f"test_time.budget_mode must be one of {BUDGET_MODES}, got "
                       f"{self.budget_mode!r}")
    if (self.budgets or self.tip_ids or self.tip_seqs) and not self.think_end:
      raise ValueError("test_time.think_end: needed for budgets and TIP")
    if self.tip_sampled and not (self.ks and self.tip_words):
      raise ValueError("test_time.tip_sampled: needs ks (samples) and tip_strings")
    if self.budgets and self.budget_mode == "force" and (not self.wait_ids or
                                                         self.max_waits < 1):
      raise ValueError("test_time.wait / max_waits: 'force' needs a wait string and "
                       "max_waits >= 1")


  @property
  def tip_words(self) -> tuple[tuple[int, ...], ...]:
    """Every thought-switch word as an id sequence (one-token words too)."""
    return tuple((i,) for i in self.tip_ids) + self.tip_seqs

  @property
  def think_end(self) -> tuple[tuple[int, ...], ...]:
    """The delimiter's id sequences: think_end_seqs, or think_end_id alone."""
    if self.think_end_seqs:
      return self.think_end_seqs
    return ((self.think_end_id,),) if self.think_end_id >= 0 else ()


def thinking_tokens(tokens_NxT: np.ndarray, lengths_N: np.ndarray, think_end) -> np.ndarray:
  """Tokens before the first end-of-thinking delimiter (the whole completion if there is
  none); counted from the first generated token, as the sampler's budget is. `think_end` is
  one token id or a sequence of the delimiter's id sequences (its spellings)."""
  seqs = ((int(think_end),),) if np.ndim(think_end) == 0 else tuple(
      tuple(int(i) for i in s) for s in think_end)
  T = tokens_NxT.shape[1]
  valid_NxT = np.arange(T)[None] < lengths_N[:, None]
  hit_NxT = np.zeros(tokens_NxT.shape, bool)  # A spelling starts here and fits the length.
  for seq in seqs:
    L = len(seq)
    if L <= T:
      hit_NxT[:, :T - L + 1] |= _starts(tokens_NxT, seq) & valid_NxT[:, L - 1:]
  return np.where(hit_NxT.any(1), hit_NxT.argmax(1), lengths_N).astype(np.int64)


def _starts(tokens_NxT: np.ndarray, seq: Sequence[int]) -> np.ndarray:
  """[N, T - len(seq) + 1]: where `seq` starts in each row (len(seq) <= T)."""
  L, T = len(seq), tokens_NxT.shape[1]
  match = np.ones((tokens_NxT.shape[0], T - L + 1), bool)
  for j, i in enumerate(seq):
    match &= tokens_NxT[:, j:T - L + 1 + j] == int(i)
  return match


def switch_counts(tokens_NxT: np.ndarray, lengths_N: np.ndarray, think_end,
                  words: Sequence[Sequence[int]]) -> np.ndarray:
  """Thought switches per completion: occurrences of the switch words (id sequences) that lie
  wholly inside its thinking (`thinking_tokens`), the underthinking paper's count."""
  think_N = thinking_tokens(tokens_NxT, lengths_N, think_end)
  T = tokens_NxT.shape[1]
  count_N = np.zeros(tokens_NxT.shape[0], np.int64)
  for word in words:
    L = len(word)
    if L <= T:
      inside = np.arange(T - L + 1)[None] + L <= think_N[:, None]
      count_N += (_starts(tokens_NxT, word) & inside).sum(1)
  return count_N


def switch_stats(gens: generation.Generations, correct_N: np.ndarray, s: Settings
                 ) -> dict[str, float]:
  """Switches per completion: over all, and over the correct and the wrong ones apart (the
  underthinking paper's observation: wrong answers switch more); NaN for an empty group."""
  count_N = switch_counts(gens.tokens_NxT, gens.lengths_N, s.think_end, s.tip_words)
  correct_N = np.asarray(correct_N, bool)
  mean = lambda x: float(x.mean()) if x.size else math.nan
  return {"switches": mean(count_N), "switches_correct": mean(count_N[correct_N]),
          "switches_wrong": mean(count_N[~correct_N])}


def _grade(texts: Sequence[str], examples: Sequence[dict], reward: str) -> np.ndarray:
  res = rewards_registry.grade_batch(list(texts), list(examples),
                                     [rewards_registry.RewardSpec(reward, 1.0, {})])
  return rewards_registry.is_correct(res.total)


def first_correct_tokens(tokenizer, tokens: Sequence[int], text: str, example: dict,
                         reward: str) -> int | None:
  """Tokens up to the end of the first answer-like span (`length.first_correct_offset`)
  that `reward` grades correct, or None."""
  def is_correct(span):
    return rewards_registry.is_correct(
        rewards_registry.call_reward(reward, span, example, {})[0].score)
  offset = length_lib.first_correct_offset(text, is_correct)
  if offset is None:
    return None
  end = 0
  for t, tok in enumerate(tokens):
    end += len(tokenizer.decode([int(tok)]))
    if end >= offset:
      return t + 1
  return len(tokens)


def efficiency(tokenizer, gens: generation.Generations, examples_N: Sequence[dict],
               reward: str) -> dict[str, float]:
  """Overthinking metrics (arXiv 2412.21187) over the completions of `gens`."""
  rounds, totals, firsts = [], [], []
  for i, (text, ex) in enumerate(zip(gens.texts, examples_N)):
    n = int(gens.lengths_N[i])
    first = first_correct_tokens(tokenizer, gens.tokens_NxT[i, :n], text, ex, reward)
    rounds.append([] if first is None else [(first, True)])
    totals.append(n)
    if first is not None:
      firsts.append(first)
  return {"outcome_efficiency": eval_metrics.outcome_efficiency(rounds, totals),
          "tokens_to_first_correct": float(np.mean(firsts)) if firsts else math.nan,
          "share_after_first_correct": eval_metrics.tokens_after_first_correct(rounds, totals)}


class _Runner:
  """Generates with variants of one base SamplerConfig on fixed examples."""

  def __init__(self, params, model_config, tokenizer, examples, base: SamplerConfig,
               batch_size: int, prompt_len: int, seed: int, mesh, rules):
    self.params, self.model_config, self.tok = params, model_config, tokenizer
    self.examples, self.base = list(examples), base
    self.batch_size, self.prompt_len, self.seed = batch_size, prompt_len, seed
    self.mesh, self.rules = mesh, rules

  def __call__(self, salt: int, **overrides) -> generation.Generations:
    cfg = dataclasses.replace(self.base, **overrides)
    sampler = Sampler(self.model_config, cfg, self.mesh, self.rules)
    return generation.generate(sampler, self.params, self.tok, self.examples, self.batch_size,
                               self.prompt_len, self.seed, salt)


def _parallel(run: _Runner, tokenizer, examples, s: Settings, reward: str):
  """pass@k and maj@k over ks from max(ks) samples per problem, and efficiency on them."""
  P, n = len(examples), s.ks[-1]
  smp = run(1, temperature=s.temperature, n=n)
  examples_N = [e for e in examples for _ in range(n)]
  correct = _grade(smp.texts, examples_N, reward).reshape(P, n).tolist()
  mode = rewards_registry.answer_extraction(reward)
  answers = [[answer_key(smp.texts[i], mode) for i in smp.group(p)] for p in range(P)]
  rows = [{"k": k, "pass@k": eval_metrics.mean_pass_at_k(correct, k),
           "maj@k": eval_metrics.maj_at_k(answers, correct, k)} for k in s.ks]
  m = {"sampled/pass@1": float(np.mean(correct)), "sampled/tokens": float(smp.lengths_N.mean())}
  if s.tip_words:
    m.update({f"sampled/{k}": v for k, v in
              switch_stats(smp, np.asarray(correct).reshape(-1), s).items()})
  for row in rows:
    m[f"sampled/pass@{row['k']}"], m[f"sampled/maj@{row['k']}"] = row["pass@k"], row["maj@k"]
  m.update({f"efficiency/{k}": v
            for k, v in efficiency(tokenizer, smp, examples_N, reward).items()})
  return rows, m


def _sequential(run: _Runner, examples, s: Settings, reward: str, log):
  """The budget-forcing sweep (greedy) and s1's Control, Scaling and Performance."""
  rows = []
  for b in s.budgets:
    force = (dict(min_think_tokens=b, wait_ids=s.wait_ids, max_waits=s.max_waits)
             if s.budget_mode == "force" else {})
    g = run(0, temperature=0.0, n=1, think_end_id=s.think_end_id,
            think_end_seqs=s.think_end_seqs, max_think_tokens=b,
            answer_prefix_ids=s.answer_prefix_ids, **force)
    think = thinking_tokens(g.tokens_NxT, g.lengths_N, s.think_end)
    rows.append({"budget": b, "accuracy": float(_grade(g.texts, examples, reward).mean()),
                 "thinking_mean": float(think.mean()), "thinking_max": int(think.max()),
                 "within_budget": float((think <= b).mean()),
                 "tokens": float(g.lengths_N.mean()), "waits_mean": float(g.num_waits_N.mean())})
    log(f"budget {b}: accuracy {rows[-1]['accuracy']:.4f}, thinking {think.mean():.1f} "
        f"tokens (max {think.max()})")
  # Control on the worst completion of each setting; Scaling on the mean thinking tokens.
  m = {"s1/control": eval_metrics.s1_control([r["budget"] for r in rows],
                                             [r["thinking_max"] for r in rows]),
       "s1/performance": max(r["accuracy"] for r in rows)}
  if len({r["thinking_mean"] for r in rows}) >= 2:
    m["s1/scaling"] = eval_metrics.s1_scaling([r["thinking_mean"] for r in rows],
                                              [r["accuracy"] for r in rows])
  return rows, m


def evaluate_task(name: str, params, model_config, tokenizer, examples: Sequence[dict],
                  base: SamplerConfig, s: Settings, accuracy_reward: str, batch_size: int,
                  prompt_len: int, seed: int = 0, mesh=None, rules=sharding.DEFAULT_RULES,
                  log: Callable[[str], Any] = print) -> dict:
  """Every measurement of the module docstring for one task; a JSON-able dict with
  'metrics' (flat), 'k_sweep', 'budget_sweep' (rows) and 'tip' ({'off': .., 'on': ..})."""
  if not examples:
    raise ValueError(f"{name}: no examples")
  run = _Runner(params, model_config, tokenizer, examples, base, batch_size, prompt_len, seed,
                mesh, rules)
  g = run(0, temperature=0.0, n=1)
  greedy_correct_N = _grade(g.texts, examples, accuracy_reward)
  m = {"num_problems": len(examples), "greedy/pass@1": float(greedy_correct_N.mean()),
       "greedy/tokens": float(g.lengths_N.mean())}
  if s.think_end:
    m["greedy/thinking_tokens"] = float(
        thinking_tokens(g.tokens_NxT, g.lengths_N, s.think_end).mean())
  out = {"task": name, "metrics": m, "k_sweep": [], "budget_sweep": [], "tip": {}}
  log(f"{name}: greedy pass@1 {m['greedy/pass@1']:.4f} over {len(examples)} problems")
  if s.ks:
    out["k_sweep"], more = _parallel(run, tokenizer, examples, s, accuracy_reward)
    m.update(more)
  if s.budgets:
    out["budget_sweep"], more = _sequential(run, examples, s, accuracy_reward,
                                            lambda msg: log(f"{name}: {msg}"))
    m.update(more)
  if s.tip_words:
    out["tip"] = _tip(run, g, greedy_correct_N, examples, s, accuracy_reward, m)
  return out


def _tip(run: _Runner, greedy: generation.Generations, greedy_correct_N: np.ndarray, examples,
         s: Settings, reward: str, m: dict) -> dict:
  """TIP off against on: accuracy, tokens and thought switches per completion (`switch_stats`);
  greedy, and with `tip_sampled` on the sampled run's draws too. Adds greedy/switches* and
  tip/* to m."""
  tip = dict(tip_token_ids=s.tip_ids, tip_sequences=s.tip_seqs, tip_alpha=s.tip_alpha,
             tip_beta=s.tip_beta)

  def row(g, examples_N, correct_N=None):
    if correct_N is None:
      correct_N = _grade(g.texts, examples_N, reward)
    return {"accuracy": float(correct_N.mean()), "tokens": float(g.lengths_N.mean()),
            **switch_stats(g, correct_N, s)}

  rows = {"off": row(greedy, examples, greedy_correct_N),  # Graded once, by evaluate_task.
          "on": row(run(0, temperature=0.0, n=1, **tip), examples)}
  m.update({f"greedy/{k}": v for k, v in rows["off"].items() if k.startswith("switches")})
  m.update({f"tip/{k}": v for k, v in rows["on"].items() if k.startswith("switches")})
  m["tip/pass@1"], m["tip/tokens"] = rows["on"]["accuracy"], rows["on"]["tokens"]
  if s.tip_sampled:  # Salt 1: the draws of _parallel's run, so the comparison is paired.
    examples_N = [e for e in examples for _ in range(s.ks[-1])]
    rows["sampled off"] = {"accuracy": m["sampled/pass@1"], "tokens": m["sampled/tokens"],
                           **{k: m[f"sampled/{k}"] for k in rows["on"] if
                              k.startswith("switches")}}
    rows["sampled on"] = row(run(1, temperature=s.temperature, n=s.ks[-1], **tip), examples_N)
    m.update({f"tip/sampled/{k}": v for k, v in rows["sampled on"].items() if k != "accuracy"})
    m["tip/sampled/pass@1"] = rows["sampled on"]["accuracy"]
  return rows


def _fmt(v) -> str:
  if isinstance(v, float):
    return "nan" if math.isnan(v) else f"{v:.4f}"
  return str(v)


def _table(head: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
  return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
          + ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows])


def markdown(results: Sequence[dict]) -> str:
  lines = []
  for res in results:
    m = res["metrics"]
    lines += [f"## {res['task']}", ""] + _table(["metric", "value"], list(m.items())) + [""]
    if res["k_sweep"]:
      lines += ["Parallel scaling (samples per problem):", ""]
      lines += _table(["k", "pass@k", "maj@k"],
                      [(r["k"], r["pass@k"], r["maj@k"]) for r in res["k_sweep"]]) + [""]
    if res["budget_sweep"]:
      lines += ["Sequential scaling (budget forcing, greedy):", ""]
      lines += _table(["budget", "accuracy", "thinking mean", "thinking max", "within budget",
                       "tokens", "waits"],
                      [(r["budget"], r["accuracy"], r["thinking_mean"], r["thinking_max"],
                        r["within_budget"], r["tokens"], r["waits_mean"])
                       for r in res["budget_sweep"]]) + [""]
    if res["tip"]:
      lines += ["TIP (greedy):", ""]
      lines += _table(["TIP", "accuracy", "tokens", "switches", "switches (correct)",
                       "switches (wrong)"],
                      [(k, v["accuracy"], v["tokens"], v.get("switches", math.nan),
                        v.get("switches_correct", math.nan), v.get("switches_wrong", math.nan))
                       for k, v in res["tip"].items()]) + [""]
  return "\n".join(lines)


def _json_safe(x):
  """NaN (a metric with nothing to average) becomes null: strict JSON."""
  if isinstance(x, float) and math.isnan(x):
    return None
  if isinstance(x, dict):
    return {k: _json_safe(v) for k, v in x.items()}
  if isinstance(x, list):
    return [_json_safe(v) for v in x]
  return x


def write_report(results: Sequence[dict], out_dir) -> dict[str, pathlib.Path]:
  """eval_summary.md, eval_summary.json and per task budget_<task>.png, scaling_<task>.png."""
  out_dir = pathlib.Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  paths = {"markdown": out_dir / "eval_summary.md", "json": out_dir / "eval_summary.json"}
  for res in results:
    slug = res["task"].replace("/", "_")
    if res["budget_sweep"]:
      sweep = res["budget_sweep"]
      paths[f"budget_{slug}"] = plots.plot_budget_curve(
          [r["budget"] for r in sweep], [r["accuracy"] for r in sweep],
          out_dir / f"budget_{slug}.png",
          title=f"{res['task']}: accuracy vs thinking budget (budget forcing)")
    if res["k_sweep"]:
      ks = [r["k"] for r in res["k_sweep"]]
      paths[f"scaling_{slug}"] = plots.plot_scaling_curve(
          ks, {"maj@k": [r["maj@k"] for r in res["k_sweep"]],
               "pass@k": [r["pass@k"] for r in res["k_sweep"]]},
          out_dir / f"scaling_{slug}.png", title=f"{res['task']}: accuracy vs samples")
  shards.write_atomic(paths["json"], json.dumps(_json_safe(list(results)), indent=2,
                                               sort_keys=True, allow_nan=False))
  shards.write_atomic(paths["markdown"], markdown(results) + "\n")
  return paths


def settings_from(config, tokenizer) -> Settings:
  """Settings from the config's test_time section; strings become token ids."""
  t = config.test_time
  ids = lambda text: tuple(tokenizer.encode(text)) if text else ()
  # One-token strings stay single ids; longer ones become id sequences (every in-context
  # spelling of the delimiter; a switch word as written), as Qwen2.5 spells '</think>'.
  think_end = spellings_lib.spellings(tokenizer, t.think_end) if t.think_end else ()
  words = [tuple(tokenizer.encode(w)) for w in t.tip_strings]
  if any(not w for w in words):
    raise setup_lib.ConfigError(f"config.test_time.tip_strings: an empty string in "
                                f"{tuple(t.tip_strings)}")
  try:
    return Settings(
        ks=tuple(t.ks), temperature=t.temperature, budgets=tuple(t.budgets),
        budget_mode=t.budget_mode,
        think_end_id=think_end[0][0] if len(think_end) == 1 and len(think_end[0]) == 1 else -1,
        think_end_seqs=think_end if len(think_end) > 1 or think_end and len(think_end[0]) > 1
        else (),
        wait_ids=ids(t.wait), max_waits=t.max_waits, answer_prefix_ids=ids(t.answer_prefix),
        tip_ids=tuple(w[0] for w in words if len(w) == 1),
        tip_seqs=tuple(w for w in words if len(w) > 1),
        tip_alpha=t.tip_alpha, tip_beta=t.tip_beta, tip_sampled=bool(t.tip_sampled))
  except ValueError as e:
    raise setup_lib.ConfigError(f"config.{e}") from e


def tasks_from(config) -> list[tuple[str, list[dict]]]:
  """(name, examples): the held-out task (`runtime.eval_examples`), then each of
  test_time.benchmarks (read from data.data_dir, split 'test'); test_time.num_problems each."""
  n = config.test_time.num_problems
  tasks = [(runtime.eval_task_name(config), runtime.eval_examples(config, n))]
  for name in config.test_time.benchmarks:
    src = sources.get_source(name, config.data.data_dir or None, "test", config.data.template)
    tasks.append((f"{name}/test", pipeline.first_examples(src, n if n > 0 else None)))
  return tasks


def run_from_config(config, workdir, log: Callable[[str], Any] = print) -> list[dict]:
  """The eval_main command: every task of `tasks_from`, then `write_report` into workdir.

  Finished tasks are kept in workdir/tasks/ and skipped on a rerun (after an interruption);
  a task file written under other settings is refused.
  """
  setup_lib.validate_common(config)  # Before any compute or any write.
  workdir = pathlib.Path(workdir)
  if config.eval.accuracy_reward not in rewards_registry.REWARDS:
    raise setup_lib.ConfigError(f"config.eval.accuracy_reward: unknown reward "
                                f"{config.eval.accuracy_reward!r}")
  rt = runtime.load(config)
  s = settings_from(config, rt.tokenizer)
  base = runtime.sampler_config(config, rt.tokenizer, rt.model_config, n=1)
  runtime.check_batch("test_time.batch_size", config.test_time.batch_size, rt.mesh)
  (workdir / "tasks").mkdir(parents=True, exist_ok=True)
  results = []
  for name, examples in tasks_from(config):
    key = shards.fingerprint({
        "checkpoint": rt.checkpoint, "settings": dataclasses.asdict(s),
        "sampler": dataclasses.asdict(base), "seed": config.seed,
        "reward": config.eval.accuracy_reward, "batch_size": config.test_time.batch_size,
        "examples": [[e["id"], e["prompt"], e.get("answer")] for e in examples]})
    path = workdir / "tasks" / (name.replace("/", "_") + ".json")
    if path.is_file():
      saved = json.loads(path.read_text())
      if saved["fingerprint"] != key:
        raise ValueError(f"{path}: results of other settings or another checkpoint; use a new "
                         f"workdir")
      log(f"{name}: already evaluated ({path})")
      results.append(saved["result"])
      continue
    res = evaluate_task(name, rt.params, rt.model_config, rt.tokenizer, examples, base, s,
                        config.eval.accuracy_reward, config.test_time.batch_size,
                        generation.prompt_length(rt.tokenizer, examples), config.seed,
                        rt.mesh, rt.rules, log)
    shards.write_atomic(path, json.dumps(_json_safe({"fingerprint": key, "result": res}),
                                         allow_nan=False))
    results.append(res)
  paths = write_report(results, workdir)
  log("\n" + markdown(results))
  log("written: " + ", ".join(str(p) for p in paths.values()))
  return results
