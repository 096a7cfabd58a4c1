"""Benchmark JSONL reading: counts, golden prompts, gold answer forms, malformed input."""
import json
import re

import pytest

from r1jax.data import sources
from r1jax.data.sources import DataError, get_source

QUESTION = ("Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning "
            "and bakes muffins for her friends every day with four. She sells the remainder at "
            "the farmers' market daily for $2 per fresh duck egg. How much in dollars does she "
            "make every day at the farmers' market?")

GOLDEN = {
    "r1_zero": (
        "A conversation between User and Assistant. The user asks a question, and the "
        "Assistant solves it. The assistant first thinks about the reasoning process in the "
        "mind and then provides the user with the answer. The reasoning process and answer are "
        "enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., "
        "<think> reasoning process here </think> <answer> answer here </answer>. User: "
        + QUESTION + ". Assistant:"),
    "qwen_chat": (
        "<|im_start|>system\nPlease reason step by step, and put your final answer within "
        "\\boxed{}.<|im_end|>\n<|im_start|>user\n" + QUESTION
        + "<|im_end|>\n<|im_start|>assistant\n"),
    "llama3_chat": (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n" + QUESTION
        + "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
    "plain": QUESTION + "\n",
}


@pytest.fixture(scope="module")
def benchmarks(shared_data_dir):
  return {(name, split): get_source(name, shared_data_dir, split, "r1_zero")
          for name, files in sources.BENCHMARK_FILES.items() for split in files}


@pytest.mark.parametrize("name,split,count", [
    ("gsm8k", "train", 7473), ("gsm8k", "test", 1319), ("math500", "test", 500),
    ("aime24", "test", 30), ("amc23", "test", 40)])
def test_counts_and_fields(benchmarks, name, split, count):
  source = benchmarks[(name, split)]
  assert len(source) == count
  ids = [source[i]["id"] for i in range(count)]
  assert len(set(ids)) == count
  for i in range(count):
    ex = source[i]
    assert ex["task"] == name
    assert {"question", "prompt", "answer", "task", "solution", "id"} <= set(ex)
    assert ex["question"] and ex["answer"] and ex["prompt"].endswith(". Assistant:")


@pytest.mark.parametrize("template", sorted(GOLDEN))
def test_golden_prompt(shared_data_dir, template):
  ex = get_source("gsm8k", shared_data_dir, "test", template)[0]
  assert ex["question"] == QUESTION
  assert ex["prompt"] == GOLDEN[template]


def test_gold_answers_in_reward_form(benchmarks, shared_data_dir):
  gsm8k = benchmarks[("gsm8k", "test")]
  assert gsm8k[0]["answer"] == "18"
  assert gsm8k[146]["answer"] == "2125"  # '#### 2,125' in the file.
  assert "<<16-3-4=9>>" in gsm8k[0]["solution"]
  for split in ("train", "test"):
    source = benchmarks[("gsm8k", split)]
    for i in range(len(source)):
      ex = source[i]
      assert re.fullmatch(r"-?\d+(\.\d+)?", ex["answer"]), ex
      assert ex["answer"] == ex["solution"].rsplit("####", 1)[1].strip().replace(",", "")

  math = benchmarks[("math500", "test")]
  raw = [json.loads(line) for line in (shared_data_dir / "math500/test.jsonl").open()]
  assert [math[i]["answer"] for i in range(500)] == [r["answer"] for r in raw]
  assert math[0]["answer"] == "\\left( 3, \\frac{\\pi}{2} \\right)"
  assert math[0]["id"] == "math500/test/precalculus/807.json"

  aime = benchmarks[("aime24", "test")]
  assert aime[7]["answer"] == "25"  # '025' in the file: the canonical integer string.
  for i in range(30):
    assert aime[i]["answer"] == str(int(aime[i]["answer"])) and 0 <= int(aime[i]["answer"]) < 1000

  amc = benchmarks[("amc23", "test")]
  raw = [json.loads(line) for line in (shared_data_dir / "amc23/test.jsonl").open()]
  assert amc[0]["answer"] == "27"  # 27.0 in the file.
  for i in range(40):
    assert float(amc[i]["answer"]) == raw[i]["answer"]
    assert not amc[i]["answer"].endswith(".0")


def test_gold_answers_round_trip_through_the_grader(benchmarks, shared_data_dir):
  math_reward = pytest.importorskip("r1jax.rewards.math")
  for (name, _), source in benchmarks.items():
    for i in range(len(source)):
      ex = source[i]
      # The gold answer written as the model should write it grades as correct ...
      assert math_reward.grade(f"<think>.</think><answer>{ex['answer']}</answer>", ex["answer"])
      # ... and so does the reference solution (GSM8K '#### 2,125', MATH's last \boxed{}).
      if name in ("gsm8k", "math500"):
        assert math_reward.grade(ex["solution"], ex["answer"]), (name, i)
  for name in ("aime24", "amc23"):  # The file's own spelling ('025', 27.0) grades too.
    raw = [json.loads(line) for line in (shared_data_dir / name / "test.jsonl").open()]
    source = benchmarks[(name, "test")]
    for i, row in enumerate(raw):
      assert math_reward.grade(f"<answer>{row['answer']}</answer>", source[i]["answer"])


def _write(path, text):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text, encoding="utf-8")
  return path


GOOD = json.dumps({"question": "1+1?", "answer": "1+1=2\n#### 2"}) + "\n"


@pytest.mark.parametrize("text,line,message", [
    (GOOD + '{"question": "x", "answer": \n', 2, "invalid JSON"),
    (GOOD + GOOD + json.dumps({"question": "x"}) + "\n", 3, "missing field 'answer'"),
    (json.dumps({"question": 3, "answer": "#### 1"}) + "\n", 1, "field 'question' must be str"),
    (GOOD + json.dumps({"question": "x", "answer": "no final line"}) + "\n", 2, "####"),
    (GOOD + "[1, 2]\n", 2, "expected a JSON object"),
    ("", 1, "file is empty"),
    ("\n\n", 1, "file is empty"),
])
def test_malformed_gsm8k_names_file_and_line(tmp_path, text, line, message):
  path = _write(tmp_path / "gsm8k" / "test.jsonl", text)
  with pytest.raises(DataError, match=re.escape(f"{path}:{line}: ") + ".*" + re.escape(message)):
    get_source("gsm8k", tmp_path, "test")


def test_bad_utf8_names_the_line(tmp_path):
  path = tmp_path / "gsm8k" / "test.jsonl"
  _write(path, GOOD)
  path.write_bytes(GOOD.encode() + b'{"question": "\xff"}\n')
  with pytest.raises(DataError, match=re.escape(f"{path}:2: not UTF-8")):
    get_source("gsm8k", tmp_path, "test")


def test_malformed_aime_and_amc(tmp_path):
  row = {"id": 1, "problem": "p", "solution": "s", "answer": "12a"}
  path = _write(tmp_path / "aime24" / "test.jsonl", json.dumps(row) + "\n")
  with pytest.raises(DataError, match=re.escape(f"{path}:1: ") + "field 'answer' must be an int"):
    get_source("aime24", tmp_path, "test")
  rows = [{"id": 1, "problem": "p", "answer": 2.0}, {"id": 1, "problem": "q", "answer": 3.5}]
  path = _write(tmp_path / "amc23" / "test.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
  with pytest.raises(DataError, match=re.escape(f"{path}:2: duplicate id 'amc23/1'")):
    get_source("amc23", tmp_path, "test")
  rows[1]["id"], rows[1]["answer"] = 2, True
  _write(path, "".join(json.dumps(r) + "\n" for r in rows))
  with pytest.raises(DataError, match=re.escape(f"{path}:2: field 'answer' must be int or float")):
    get_source("amc23", tmp_path, "test")
  rows[1]["answer"] = 3.5
  _write(path, "".join(json.dumps(r) + "\n" for r in rows))
  assert [ex["answer"] for ex in get_source("amc23", tmp_path, "test")] == ["2", "3.5"]


def test_missing_directory_says_how_to_get_data(tmp_path):
  with pytest.raises(DataError, match="does not exist.*math500/test.jsonl.*Hugging Face"):
    get_source("math500", tmp_path / "nowhere", "test")
  (tmp_path / "math500").mkdir()
  with pytest.raises(DataError, match=re.escape(str(tmp_path / "math500" / "test.jsonl"))
                     + ": file not found"):
    get_source("math500", tmp_path, "test")


def test_bad_names():
  with pytest.raises(ValueError, match="unknown source 'gsm9k'"):
    get_source("gsm9k", "d", "test")
  with pytest.raises(ValueError, match="unknown template 'chat'"):
    get_source("gsm8k", "d", "test", "chat")
  with pytest.raises(ValueError, match="math500: unknown split 'train'"):
    get_source("math500", "d", "train")


def test_distillation_jsonl(tmp_path):
  rows = [{"prompt": "P1\n", "completion": "<think>a</think><answer>1</answer>", "answer": 1},
          {"question": "Q2", "completion": "c2", "id": "x2", "task": "arith"}]
  path = _write(tmp_path / "train.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
  source = get_source("distill", tmp_path, "train", "plain")
  assert source[0] == {"question": "P1\n", "prompt": "P1\n", "answer": "1", "task": "distill",
                       "solution": rows[0]["completion"], "completion": rows[0]["completion"],
                       "id": "train/0"}
  assert source[1]["prompt"] == "Q2\n" and source[1]["id"] == "x2"
  assert source[1]["task"] == "arith" and source[1]["answer"] == ""
  _write(path, json.dumps({"question": "q"}) + "\n")
  with pytest.raises(DataError, match=re.escape(f"{path}:1: missing field 'completion'")):
    get_source("distill", tmp_path, "train", file="train.jsonl")
  _write(path, json.dumps({"completion": "c"}) + "\n")
  with pytest.raises(DataError, match=re.escape(f"{path}:1: missing field 'prompt'")):
    get_source("distill", tmp_path, "train")


def test_mixture_source(shared_data_dir):
  mix = get_source("mixture", shared_data_dir, "test", "plain",
                   components=[("aime24", 1), ("arith", 3, {"num_examples": 50})])
  assert [c.name for c in mix.components] == ["aime24/test", "arith-medium/test"]
  assert mix.rates == (1.0, 3.0)
  with pytest.raises(ValueError, match="rates must be positive"):
    sources.Mixture(mix.components, (1.0, 0.0))
  with pytest.raises(ValueError, match="one rate per component"):
    sources.Mixture(mix.components, (1.0,))
