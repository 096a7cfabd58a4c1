"""Rejection sampling: labels, every filter on hand-made samples, and end to end with a tiny
trained model (only correct samples kept; an interrupted run resumes to the same bytes)."""
import dataclasses
import json
import pathlib

import jax
import numpy as np
import pytest
import recipe_toy

from r1jax.recipe import generation, shards
from r1jax.recipe import rejection_sampling as rs_lib
from r1jax.recipe.defaults import recipe_config
from r1jax.rewards.math import grade
from r1jax.rewards.registry import RewardSpec
from r1jax.sampling.sampler import SamplerConfig


def _gens(texts_per_prompt, stops=None, lengths=None):
  """Generations from texts (n per prompt); tokens are irrelevant to `select`."""
  n = len(texts_per_prompt[0])
  texts = [t for group in texts_per_prompt for t in group]
  N = len(texts)
  lengths = np.asarray(lengths if lengths is not None else [len(t) for t in texts], np.int32)
  return generation.Generations(
      n=n, texts=texts, tokens_NxT=np.zeros((N, 1), np.int32), lengths_N=lengths,
      stop_reasons=list(stops or ["stop_token"] * N), num_waits_N=np.zeros(N, np.int32))


def _ex(i, answer):
  return {"id": f"p{i}", "prompt": f"q{i}\n", "question": f"q{i}", "answer": answer,
          "task": "t"}


def _rs(filters=None, **kw) -> rs_lib.RSConfig:
  """RSConfig from the recipe's defaults (their one home), with these overrides. The filter
  tests switch drop_truncated off unless they test it: their samples stop for other reasons."""
  c = recipe_config()
  f = {**dict(c.rs.filters), "drop_truncated": False, **(filters or {})}
  base = dict(labels=c.rs.labels, min_confidence=c.rs.min_confidence,
              accuracy_reward=c.eval.accuracy_reward)
  return rs_lib.RSConfig(**{**base, **kw}, filters=rs_lib.Filters(**f))


def _select(examples, gens, **kw):
  rs = _rs(**kw)
  specs = rs_lib.graded_specs([RewardSpec("math_accuracy")], rs)
  return rs_lib.select(examples, gens, specs, rs)


def _ok(body, ans):
  return f"<think>{body}</think><answer>{ans}</answer>"


def test_gold_labels_keep_only_correct_deduplicated():
  examples = [_ex(0, "7"), _ex(1, "3")]
  gens = _gens([[_ok("a b", "7"), _ok("b", "8"), _ok("a \n b", "7"), _ok("c", "7")],
                [_ok("x", "4"), _ok("y", "5"), _ok("z", "1"), _ok("w", "2")]])
  rows, stats = _select(examples, gens)
  assert [(r["source_id"], r["sample_index"]) for r in rows] == [("p0", 0), ("p0", 3)]
  assert all(grade(r["completion"], r["answer"]) for r in rows)
  assert stats["rejected_incorrect"] == 5 and stats["rejected_duplicate"] == 1
  assert stats["kept"] == 2 and stats["prompts_kept"] == 1 and stats["samples"] == 8
  r = rows[0]
  assert r["id"] == "p0#0" and r["label"] == "gold" and r["rewards"]["math_accuracy"] == 1.0
  assert r["prompt"] == "q0\n" and r["num_tokens"] == len(_ok("a b", "7"))


def test_each_filter_names_its_reason():
  examples = [_ex(0, "7")]
  texts = [_ok("ok", "7"), "<answer>7</answer>", _ok("cut", "7"), _ok("much longer", "7"),
           _ok("Это", "7"), _ok("ok", "7")]
  stops = ["stop_token", "stop_token", "length", "stop_token", "stop_token", "stop_token"]
  gens = _gens([texts], stops=stops)
  rows, stats = _select(examples, gens, filters=dict(
      required=("format_strict",), drop_truncated=True, max_tokens=len(texts[0]) + 3,
      min_language=0.5))
  assert [r["sample_index"] for r in rows] == [0]
  assert stats["rejected_format_strict"] == 1
  assert stats["rejected_truncated"] == 1
  assert stats["rejected_length"] == 1
  assert stats["rejected_language"] == 1
  assert stats["rejected_duplicate"] == 1
  assert rows[0]["rewards"]["language_consistency"] == 1.0


def test_at_most_m_per_prompt_first_or_shortest():
  examples = [_ex(0, "7")]
  texts = [_ok("long reasoning", "7"), _ok("mid", "7"), _ok("s", "7"), _ok("medium", "7")]
  rows, stats = _select(examples, _gens([texts]), filters=dict(max_per_prompt=2))
  assert [r["sample_index"] for r in rows] == [0, 1] and stats["rejected_over_max"] == 2
  rows, _ = _select(examples, _gens([texts]), filters=dict(max_per_prompt=2,
                                                           prefer="shortest"))
  assert [r["sample_index"] for r in rows] == [2, 1]
  rows, _ = _select(examples, _gens([texts]), filters=dict(correct=False, dedup=False))
  assert len(rows) == 4


def test_majority_labels_with_confidence_threshold():
  # No gold: p0's majority "7" has 3/4 votes, p1's "5" only 2/4, p2 never answers.
  examples = [_ex(0, ""), _ex(1, ""), _ex(2, "")]
  gens = _gens([[_ok("a", "7"), _ok("b", "7"), _ok("c", "7"), _ok("d", "9")],
                [_ok("a", "5"), _ok("b", "5"), _ok("c", "6"), _ok("d", "4")],
                ["none", "none", "none", "none"]])
  rows, stats = _select(examples, gens, labels="auto", min_confidence=0.6)
  assert [r["sample_index"] for r in rows] == [0, 1, 2]
  assert all(r["label"] == "majority" and r["confidence"] == 0.75 for r in rows)
  assert rows[0]["answer"] == "7"
  assert stats["skipped_low_confidence"] == 1 and stats["skipped_no_majority"] == 1
  rows, stats = _select(examples, gens, labels="majority", min_confidence=0.5)
  assert {r["source_id"] for r in rows} == {"p0", "p1"}
  # With gold present, majority mode still votes and reports how often the vote was right.
  gold = [_ex(0, "7"), _ex(1, "6"), _ex(2, "1")]
  rows, stats = _select(gold, gens, labels="majority", min_confidence=0.5)
  assert stats["majority_matches_gold"] == 1 and rows[0]["gold_answer"] == "7"
  with pytest.raises(ValueError, match="rs.labels"):
    _rs(labels="vibes")
  _, stats = _select(examples, gens, labels="gold")
  assert stats["skipped_no_gold"] == 3


def test_config_errors_name_the_field():
  with pytest.raises(ValueError, match="rs.filters.required: unknown reward 'nope'"):
    _rs(filters=dict(required=("nope",)))
  with pytest.raises(ValueError, match="rs.filters.prefer"):
    _rs(filters=dict(prefer="best"))
  with pytest.raises(ValueError, match="rs.filters.required must be a sequence"):
    _rs(filters=dict(required="format_strict"))
  with pytest.raises(ValueError, match="rs.min_confidence"):
    _rs(min_confidence=1.5)


# End to end with a tiny model trained for seconds on one-step sums.

SAMPLER = SamplerConfig(max_new_tokens=16, eos_id=recipe_toy.TOKENIZER.eos_id,
                        pad_id=recipe_toy.TOKENIZER.pad_id, temperature=1.0, n=4,
                        stop_token_ids=(recipe_toy.TOKENIZER.token_to_id("</answer>"),))
RS = _rs(filters=dict(dedup=False))
SPECS = rs_lib.graded_specs([RewardSpec("math_accuracy"), RewardSpec("format_strict", 0.1)], RS)


def _run(out_dir, examples, params, log=lambda s: None):
  return rs_lib.run(params, recipe_toy.MODEL, recipe_toy.TOKENIZER, examples, out_dir, rs=RS,
                    sampler_cfg=SAMPLER, specs=SPECS, batch_size=8, shard_prompts=8,
                    prompt_len=8, seed=3, checkpoint={"kind": "test"}, log=log)


@pytest.fixture(scope="module")
def trained():
  return recipe_toy.trained_params()


def test_keeps_exactly_the_correct_samples(trained, tmp_path):
  examples = recipe_toy.examples("train", 16)
  _run(tmp_path, examples, trained)
  rows, info = shards.load(tmp_path)
  # The same samples again (keys depend only on seed, salt and example id), graded here.
  from r1jax.sampling.sampler import Sampler  # pylint: disable=g-import-not-at-top
  gens = generation.generate(Sampler(recipe_toy.MODEL, SAMPLER), trained, recipe_toy.TOKENIZER,
                             examples, 8, 8, 3, 0)
  expected = {(e["id"], j) for p, e in enumerate(examples) for j, i in enumerate(gens.group(p))
              if grade(gens.texts[i], e["answer"])}
  kept = {(r["source_id"], r["sample_index"]) for r in rows}
  assert kept == expected
  assert 0 < len(kept) < 64, "the toy model should be right sometimes, not always"
  assert all(grade(r["completion"], r["answer"]) for r in rows)
  assert info["summary"]["kept"] == len(rows) and info["summary"]["samples"] == 64
  assert info["provenance"]["checkpoint"] == {"kind": "test"}
  assert info["provenance"]["sampler"]["n"] == 4
  for r in rows:
    assert r["rewards"]["math_accuracy"] == 1.0
    assert r["reward_total"] == pytest.approx(1.0 + 0.1 * r["rewards"]["format_strict"],
                                              rel=1e-6)


def test_interrupted_run_resumes_to_the_same_dataset(trained, tmp_path):
  examples = recipe_toy.examples("train", 24, start=100)
  _run(tmp_path / "straight", examples, trained)

  def stop_after_first_shard(msg):
    if msg.startswith("shard 1/3"):
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    _run(tmp_path / "resumed", examples, trained, log=stop_after_first_shard)
  with pytest.raises(shards.IncompleteDatasetError):
    shards.load(tmp_path / "resumed")
  messages = []
  _run(tmp_path / "resumed", examples, trained, log=messages.append)
  assert messages[0] == "shard 1/3: already written, skipped"
  for name in (shards.DATA_FILE, shards.INFO_FILE, shards.COMPLETE_FILE):
    assert ((tmp_path / "resumed" / name).read_bytes()
            == (tmp_path / "straight" / name).read_bytes()), name
  # A finished dataset is returned as is; other settings in the same directory are refused.
  info = _run(tmp_path / "resumed", examples, trained)
  assert info == json.loads((tmp_path / "straight" / shards.INFO_FILE).read_text())
  other_weights = jax.tree.map(lambda x: x * 1.01, trained)
  (tmp_path / "resumed" / shards.COMPLETE_FILE).unlink()  # As if interrupted at the very end.
  with pytest.raises(ValueError, match="weights changed"):
    _run(tmp_path / "resumed", examples, other_weights)
  with pytest.raises(ValueError, match="other inputs"):
    rs_lib.run(trained, recipe_toy.MODEL, recipe_toy.TOKENIZER, examples,
               tmp_path / "resumed", rs=RS, sampler_cfg=dataclasses.replace(SAMPLER, n=2),
               specs=SPECS, batch_size=8, shard_prompts=8, prompt_len=8, seed=3,
               checkpoint={"kind": "test"})


def test_hugging_face_teacher_from_config(tmp_path):
  """A Hugging Face folder as the teacher (the tiny Qwen2 fixture: random weights, so every
  sample is kept with the filters off); the dataset names it in its provenance."""
  from r1jax.recipe.defaults import recipe_config  # pylint: disable=g-import-not-at-top
  c = recipe_config()
  c.model.hf_checkpoint = str(pathlib.Path(__file__).parent / "fixtures" / "hf_parity" / "qwen2")
  c.tokenizer = "char:math"  # The fixture has weights only; 83 ids < its 128-row vocab.
  c.data.knobs = dict(recipe_toy.KNOBS)
  c.data.max_prompt_len = 8
  c.sampler.group_size = 2
  c.sampler.max_new_tokens = 8
  c.rs.num_prompts, c.rs.prompts_per_batch, c.rs.shard_prompts = 8, 8, 8
  c.rs.filters.correct = False
  c.rs.filters.dedup = False
  c.rs.filters.drop_truncated = False
  info = rs_lib.run_from_config(c, tmp_path, log=lambda m: None)
  rows, _ = shards.load(tmp_path)
  assert info["rows"] == len(rows) == 16
  assert info["provenance"]["checkpoint"] == {"kind": "hf", "path": c.model.hf_checkpoint}
  assert info["provenance"]["model_config"]["vocab_size"] == 128
  assert all(max(recipe_toy.TOKENIZER.encode(r["completion"]) + [0]) < 83 for r in rows)
