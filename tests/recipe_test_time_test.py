"""Test-time evaluation: thinking counts, efficiency, and with a tiny trained model the budget
sweep (every budget respected), pass@k against the exact formula, maj@k >= pass@1, reports."""
import collections
import dataclasses
import json
import math
from fractions import Fraction

import numpy as np
import pytest
import recipe_toy

from r1jax.eval.evaluate import answer_key
from r1jax.recipe import generation, test_time
from r1jax.rewards.math import grade
from r1jax.sampling.sampler import Sampler, SamplerConfig

from r1jax.recipe.defaults import recipe_config

TOK = recipe_toy.TOKENIZER
THINK_END = TOK.token_to_id("</think>")
BASE = SamplerConfig(max_new_tokens=16, eos_id=TOK.eos_id, pad_id=TOK.pad_id, n=1,
                     stop_token_ids=(TOK.token_to_id("</answer>"),))


def test_thinking_tokens_count_up_to_the_first_end_of_thinking():
  e = THINK_END
  tokens = np.array([[5, 6, e, 7, e], [5, 6, 7, 8, 9], [5, e, 0, 0, 0], [5, 6, 7, e, 0]])
  lengths = np.array([5, 5, 2, 3])  # Row 3's delimiter lies past its length: not counted.
  np.testing.assert_array_equal(test_time.thinking_tokens(tokens, lengths, e), [2, 5, 1, 3])


def test_switch_counts_count_words_wholly_inside_thinking():
  e, a, b = THINK_END, 40, 41
  tokens = np.array([[a, b, 5, a, b, e, a, b],   # Two switches, one more after </think>.
                     [5, a, a, b, 6, 7, 8, 9],   # No delimiter: all of it is thinking.
                     [a, b, a, 0, 0, 0, 0, 0],   # A word cut by the length is not counted.
                     [5, a, e, b, 0, 0, 0, 0]])  # Nor one the delimiter splits.
  lengths = np.array([8, 8, 3, 4])
  np.testing.assert_array_equal(
      test_time.switch_counts(tokens, lengths, e, [(a, b)]), [2, 1, 1, 0])
  np.testing.assert_array_equal(  # One-token words, and several words summed.
      test_time.switch_counts(tokens, lengths, e, [(a,), (6, 7)]), [2, 3, 2, 1])
  gens = generation.Generations(n=1, texts=[""] * 4, tokens_NxT=tokens, lengths_N=lengths,
                                stop_reasons=["stop_token"] * 4,
                                num_waits_N=np.zeros(4, np.int32))
  s = _settings(think_end_id=e, tip_seqs=((a, b),))
  assert test_time.switch_stats(gens, [True, False, False, True], s) == {
      "switches": 1.0, "switches_correct": 1.0, "switches_wrong": 1.0}
  stats = test_time.switch_stats(gens, [True, True, True, False], s)
  assert stats["switches_correct"] == 4 / 3 and stats["switches_wrong"] == 0.0
  assert math.isnan(test_time.switch_stats(gens, [True] * 4, s)["switches_wrong"])


def _gens_from_texts(texts):
  enc = [TOK.encode(t) for t in texts]
  T = max(len(e) for e in enc)
  tokens = np.zeros((len(enc), T), np.int32)
  for i, e in enumerate(enc):
    tokens[i, :len(e)] = e
  return generation.Generations(
      n=1, texts=list(texts), tokens_NxT=tokens,
      lengths_N=np.array([len(e) for e in enc], np.int32),
      stop_reasons=["stop_token"] * len(texts), num_waits_N=np.zeros(len(texts), np.int32))


def test_efficiency_counts_tokens_to_the_first_correct_answer():
  texts = ["<think>3+4=7\n7-1=6\n</think><answer>6</answer>",  # Correct at the last step.
           "<think>3+4=7\n7-1=5\n</think><answer>5</answer>"]  # Never correct.
  gens = _gens_from_texts(texts)
  ex = {"answer": "6"}
  # '<think>' is one token, then one token per character: "3+4=7\n7-1=6" is 11 more.
  assert test_time.first_correct_tokens(TOK, gens.tokens_NxT[0], texts[0], ex,
                                        "math_accuracy") == 12
  assert test_time.first_correct_tokens(TOK, gens.tokens_NxT[1], texts[1], ex,
                                        "math_accuracy") is None
  total = int(gens.lengths_N[0])
  m = test_time.efficiency(TOK, gens, [ex, ex], "math_accuracy")
  assert m["tokens_to_first_correct"] == 12
  assert m["outcome_efficiency"] == pytest.approx((12 / total + 0) / 2, rel=1e-12)
  assert m["share_after_first_correct"] == pytest.approx((total - 12) / total, rel=1e-12)


def _settings(**kw):
  """Settings with config.test_time's defaults (recipe/defaults.py), then `kw`."""
  t = recipe_config().test_time
  base = dict(ks=tuple(t.ks), temperature=t.temperature, budgets=tuple(t.budgets),
              budget_mode=t.budget_mode, max_waits=t.max_waits, tip_alpha=t.tip_alpha,
              tip_beta=t.tip_beta)
  return test_time.Settings(**{**base, **kw})


def test_settings_are_validated():
  assert _settings(ks=(4, 1, 2, 2), budgets=(8, 2), think_end_id=1).budgets == (2, 8)
  with pytest.raises(ValueError, match="think_end"):
    _settings(budgets=(4,))
  with pytest.raises(ValueError, match="max_waits"):
    _settings(budgets=(4,), think_end_id=1, budget_mode="force")
  with pytest.raises(ValueError, match="budget_mode"):
    _settings(budget_mode="stretch")
  with pytest.raises(ValueError, match="ks"):
    _settings(ks=(0,))
  with pytest.raises(ValueError, match="tip_sampled"):
    _settings(ks=(), tip_ids=(3,), think_end_id=1, tip_sampled=True)


@pytest.fixture(scope="module")
def result():
  params = recipe_toy.trained_params()
  examples = recipe_toy.examples("train", 16, start=5000)  # Solvable, about half the time.
  s = _settings(ks=(1, 2, 4, 8), temperature=1.0, budgets=(1, 4, 7, 12),
                         think_end_id=THINK_END,
                         answer_prefix_ids=(TOK.token_to_id("<answer>"),),
                         tip_ids=(TOK.encode("\n")[0],), tip_alpha=3.0, tip_beta=7,
                         tip_sampled=True)
  res = test_time.evaluate_task("arith/train", params, recipe_toy.MODEL, TOK, examples, BASE,
                                s, "math_accuracy", batch_size=16, prompt_len=8, seed=5,
                                log=lambda m: None)
  return params, examples, res


def test_budget_sweep_is_monotone_and_every_budget_is_respected(result):
  params, examples, res = result
  sweep = res["budget_sweep"]
  budgets = [r["budget"] for r in sweep]
  assert budgets == sorted(set(budgets)) == [1, 4, 7, 12]
  for r in sweep:
    assert r["within_budget"] == 1.0 and r["thinking_max"] <= r["budget"], r
  # Independently: regenerate at a budget that cuts the toy's 7-token thinking short and count
  # the tokens before '</think>' by hand.
  cfg = dataclasses.replace(BASE, think_end_id=THINK_END, max_think_tokens=4, temperature=0.0,
                            answer_prefix_ids=(TOK.token_to_id("<answer>"),))
  g = generation.generate(Sampler(recipe_toy.MODEL, cfg), params, TOK, examples, 16, 8, 5, 0)
  for row, n in zip(g.tokens_NxT, g.lengths_N):
    ids = list(row[:n])
    thinking = ids.index(THINK_END) if THINK_END in ids else len(ids)
    assert thinking <= 4, TOK.decode(ids)
  assert res["metrics"]["s1/control"] == 1.0
  # The untouched model thinks 7 tokens here ('<think>a+b=c\n'): the widest budget matches it.
  assert sweep[-1]["accuracy"] == pytest.approx(res["metrics"]["greedy/pass@1"], abs=1e-12)
  assert sweep[0]["thinking_max"] == 1


def _exact_pass_at_k(n, c, k):
  return 1 - Fraction(math.comb(n - c, k), math.comb(n, k))


def test_pass_at_k_is_the_exact_formula_and_maj_beats_pass1(result):
  params, examples, res = result
  n = 8
  g = generation.generate(Sampler(recipe_toy.MODEL, dataclasses.replace(BASE, n=n)), params,
                          TOK, examples, 16, 8, 5, 1)
  correct = [[grade(g.texts[i], e["answer"]) for i in g.group(p)]
             for p, e in enumerate(examples)]
  assert 0 < sum(map(sum, correct)) < n * len(examples), "need a mix of right and wrong"
  for row in res["k_sweep"]:
    k = row["k"]
    exact = sum(_exact_pass_at_k(n, sum(c), k) for c in correct) / len(correct)
    assert row["pass@k"] == pytest.approx(float(exact), rel=1e-12, abs=1e-15)
    # maj@k by hand: most frequent answer among the first k (ties: first seen).
    hits = 0
    for p, e in enumerate(examples):
      keys = [answer_key(g.texts[i]) for i in list(g.group(p))[:k]]
      counts = collections.Counter(x for x in keys if x is not None)
      if counts:
        best = max(counts.values())
        winner = next(x for x in keys if x is not None and counts[x] == best)
        hits += correct[p][keys.index(winner)]
    assert row["maj@k"] == pytest.approx(hits / len(examples), abs=1e-12)
  m = res["metrics"]
  assert m["sampled/pass@1"] == pytest.approx(np.mean(correct), abs=1e-12)
  for k in (4, 8):
    assert m[f"sampled/maj@{k}"] >= m["sampled/pass@1"]
  assert 0 < m["efficiency/outcome_efficiency"] <= 1
  assert "tip/pass@1" in m and res["tip"]["off"]["accuracy"] == m["greedy/pass@1"]


def _hand_switches(g, newline):
  """Newlines before the first '</think>', counted token by token."""
  counts = []
  for row, n in zip(g.tokens_NxT, g.lengths_N):
    ids = list(row[:n])
    think = ids[:ids.index(THINK_END)] if THINK_END in ids else ids
    counts.append(think.count(newline))
  return float(np.mean(counts))


def _row(g, i):
  return generation.Generations(n=1, texts=[g.texts[i]], tokens_NxT=g.tokens_NxT[i:i + 1],
                                lengths_N=g.lengths_N[i:i + 1], stop_reasons=[""],
                                num_waits_N=g.num_waits_N[i:i + 1])


def test_tip_counts_switches_greedy_and_on_the_sampled_runs_draws(result):
  """TIP's rows: 'off' is the greedy run; 'on', 'sampled off' and 'sampled on' are the same
  decodes regenerated here (salt 1 = the sampled run's draws), their switches counted by hand."""
  params, examples, res = result
  nl = TOK.encode("\n")[0]
  tip = dict(tip_token_ids=(nl,), tip_alpha=3.0, tip_beta=7)
  def gen(salt, **kw):
    return generation.generate(Sampler(recipe_toy.MODEL, dataclasses.replace(BASE, **kw)),
                               params, TOK, examples, 16, 8, 5, salt)
  m, rows = res["metrics"], res["tip"]
  assert set(rows) == {"off", "on", "sampled off", "sampled on"}
  cases = {"off": gen(0, temperature=0.0), "on": gen(0, temperature=0.0, **tip),
           "sampled off": gen(1, temperature=1.0, n=8),
           "sampled on": gen(1, temperature=1.0, n=8, **tip)}
  for name, g in cases.items():
    assert rows[name]["switches"] == pytest.approx(_hand_switches(g, nl), abs=1e-12), name
    correct = [grade(t, e["answer"]) for t, e in zip(
        g.texts, [e for e in examples for _ in range(g.n)])]
    for want, key in ((True, "switches_correct"), (False, "switches_wrong")):
      rows_ = [i for i, c in enumerate(correct) if c == want]
      hand = np.mean([_hand_switches(_row(g, i), nl) for i in rows_]) if rows_ else math.nan
      np.testing.assert_allclose(rows[name][key], hand, atol=1e-12, err_msg=f"{name} {key}")
    assert rows[name]["tokens"] == pytest.approx(float(g.lengths_N.mean()), abs=1e-12), name
  assert rows["sampled off"]["accuracy"] == m["sampled/pass@1"]
  assert m["tip/sampled/switches"] == rows["sampled on"]["switches"]
  assert m["greedy/switches"] == rows["off"]["switches"] > 0  # The toy's '\n' is a switch.
  # The penalty bites: fewer newlines inside the 7-token window under sampling.
  assert rows["sampled on"]["switches"] < rows["sampled off"]["switches"]


def test_force_mode_extends_thinking_with_waits_within_the_budget():
  params = recipe_toy.trained_params()
  examples = recipe_toy.examples("train", 8, start=5000)
  s = _settings(ks=(), budgets=(12,), budget_mode="force", think_end_id=THINK_END,
                         wait_ids=tuple(TOK.encode("\n")), max_waits=2)
  res = test_time.evaluate_task("arith/train", params, recipe_toy.MODEL, TOK, examples, BASE,
                                s, "math_accuracy", batch_size=8, prompt_len=8,
                                log=lambda m: None)
  row = res["budget_sweep"][0]
  assert row["waits_mean"] > 0 and row["within_budget"] == 1.0
  assert row["thinking_mean"] > res["metrics"]["greedy/thinking_tokens"]


def test_report_files(result, tmp_path):
  _, _, res = result
  paths = test_time.write_report([res], tmp_path)
  for key in ("budget_arith_train", "scaling_arith_train"):
    assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  data = json.loads(paths["json"].read_text())
  assert [r["budget"] for r in data[0]["budget_sweep"]] == [1, 4, 7, 12]
  md = paths["markdown"].read_text()
  assert "## arith/train" in md and "Sequential scaling" in md and "| 8 |" in md


def test_settings_and_tasks_from_config(shared_data_dir):
  from r1jax.recipe.defaults import recipe_config  # pylint: disable=g-import-not-at-top
  from r1jax.train.setup import ConfigError  # pylint: disable=g-import-not-at-top
  c = recipe_config()
  c.data.knobs = dict(recipe_toy.KNOBS)
  c.data.data_dir = str(shared_data_dir)
  c.test_time.num_problems = 3
  c.test_time.benchmarks = ("gsm8k", "math500")
  tasks = test_time.tasks_from(c)
  assert [(name, len(ex)) for name, ex in tasks] == [("arith/test", 3), ("gsm8k/test", 3),
                                                      ("math500/test", 3)]
  assert all(e["answer"] for _, ex in tasks for e in ex)
  c.test_time.budgets = (8, 4)
  c.test_time.answer_prefix = "<answer>"
  s = test_time.settings_from(c, TOK)
  assert s.budgets == (4, 8) and s.think_end_id == THINK_END
  assert s.answer_prefix_ids == (TOK.token_to_id("<answer>"),)
  c.test_time.think_end = "end"  # Several tokens: matched as a sequence.
  s = test_time.settings_from(c, TOK)
  assert s.think_end_id == -1 and s.think_end == (tuple(TOK.encode("end")),)
  c.test_time.think_end = ""
  with pytest.raises(ConfigError, match="config.test_time.think_end"):
    test_time.settings_from(c, TOK)
  c.test_time.think_end = "</think>"
  c.test_time.budget_mode = "stretch"
  with pytest.raises(ConfigError, match="config.test_time.budget_mode"):
    test_time.settings_from(c, TOK)
