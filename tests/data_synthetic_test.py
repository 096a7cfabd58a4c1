"""Synthetic tasks: determinism, checkable traces, correct answers, reachable Countdown targets,
disjoint splits, and the TFDS builder writing the same examples."""
import ast
import collections
import fractions
import itertools
import operator
import re

import pytest

from r1jax.data import first_examples, synthetic
from r1jax.data.synthetic import SyntheticSource
from r1jax.tokenizers import MATH_ALPHABET

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv}
_STEP_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
STEP = re.compile(r"(\d+)([-+*/])(\d+)=(\d+)")


def evaluate(expr: str) -> fractions.Fraction:
  """Exact value of + - * / expressions with ordinary precedence (independent of the code)."""
  def ev(node):
    if isinstance(node, ast.BinOp):
      return _OPS[type(node.op)](ev(node.left), ev(node.right))
    assert isinstance(node, ast.Constant) and isinstance(node.value, int), ast.dump(node)
    return fractions.Fraction(node.value)
  return ev(ast.parse(expr, mode="eval").body)


def verified_steps(trace: str) -> list[tuple[int, str, int, int]]:
  """Parses 'a op b=c' lines and checks each is exact integer arithmetic."""
  assert trace.endswith("\n")
  steps = []
  for line in trace[:-1].split("\n"):
    m = STEP.fullmatch(line)
    assert m, line
    a, op, b, c = int(m[1]), m[2], int(m[3]), int(m[4])
    assert _STEP_OPS[op](fractions.Fraction(a), b) == c, line
    steps.append((a, op, b, c))
  return steps


def check_common(ex):
  assert ex["completion"] == f"<think>{ex['solution']}</think><answer>{ex['answer']}</answer>"
  for key in ("question", "answer", "solution"):
    assert set(ex[key]) <= set(MATH_ALPHABET), (key, ex[key])


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_arith_traces_verify_and_answers_are_correct(difficulty):
  cfg = synthetic.DIFFICULTIES["arith"][difficulty]
  for split in ("train", "test"):
    for ex in first_examples(SyntheticSource("arith", split, difficulty=difficulty), 200):
      check_common(ex)
      steps = verified_steps(ex["solution"])
      assert cfg.min_ops <= len(steps) <= cfg.max_ops
      assert {op for _, op, _, _ in steps} <= set(cfg.operators)
      for (_, _, _, c), (a, _, _, _) in zip(steps, steps[1:]):
        assert a == c  # A chain: each step starts from the previous result.
      assert all(c >= 0 for *_, c in steps)
      assert ex["answer"] == str(steps[-1][3]) == str(evaluate(ex["question"]))
      numbers = [int(n) for n in re.findall(r"\d+", ex["question"])]
      assert numbers == [steps[0][0]] + [b for _, _, b, _ in steps]
      assert all(n < 10**cfg.digits for n in numbers)


def solvable(numbers, target) -> bool:
  """Brute force over all pairings and operators with exact rationals."""
  values = [fractions.Fraction(n) for n in numbers]
  if len(values) == 1:
    return values[0] == target
  for i, j in itertools.permutations(range(len(values)), 2):
    rest = [v for k, v in enumerate(values) if k not in (i, j)]
    a, b = values[i], values[j]
    results = [a + b, a - b, a * b] + ([a / b] if b else [])
    if any(solvable(rest + [r], target) for r in results):
      return True
  return False


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_countdown_solutions_and_reachability(difficulty):
  cfg = synthetic.DIFFICULTIES["countdown"][difficulty]
  for split in ("train", "test"):
    examples = first_examples(SyntheticSource("countdown", split, difficulty=difficulty), 150)
    for k, ex in enumerate(examples):
      check_common(ex)
      numbers, target = ex["numbers"], ex["target"]
      assert cfg.min_numbers <= len(numbers) <= cfg.max_numbers
      assert all(1 <= n <= cfg.max_number for n in numbers) and 1 <= target <= cfg.max_target
      assert str(target) in ex["question"] and ", ".join(map(str, numbers)) in ex["question"]
      # The answer uses each number exactly once and equals the target.
      assert sorted(int(n) for n in re.findall(r"\d+", ex["answer"])) == sorted(numbers)
      assert evaluate(ex["answer"]) == target
      # The trace combines the pool two at a time down to the target.
      pool = collections.Counter(numbers)
      for a, _, b, c in verified_steps(ex["solution"]):
        pool[a] -= 1
        pool[b] -= 1
        assert pool[a] >= 0 and pool[b] >= 0
        pool[c] += 1
      assert +pool == collections.Counter([target])
      if k < 20:  # An independent solver agrees the target is reachable.
        assert solvable(numbers, target)


def test_references_earn_full_reward():
  rewards = pytest.importorskip("r1jax.rewards.countdown")
  from r1jax.rewards import format as format_reward  # pylint: disable=g-import-not-at-top
  from r1jax.rewards import math as math_reward  # pylint: disable=g-import-not-at-top
  from r1jax.rewards import process  # pylint: disable=g-import-not-at-top
  for task in ("arith", "countdown"):
    for ex in first_examples(SyntheticSource(task, "test", difficulty="hard"), 100):
      assert format_reward.strict(ex["completion"]) == 1.0
      share, steps = process.self_checked(ex["completion"])
      assert share == 1.0 and len(steps) == ex["solution"].count("\n")
      if task == "arith":
        assert math_reward.grade(ex["completion"], ex["answer"])
      else:
        assert rewards.score(ex["completion"], ex["numbers"], ex["target"]) == 1.0


def test_same_seed_same_examples_and_per_index():
  for task in ("arith", "countdown"):
    a = first_examples(SyntheticSource(task, "train", "plain", seed=3), 50)
    b = first_examples(SyntheticSource(task, "train", "plain", seed=3), 50)
    c = first_examples(SyntheticSource(task, "train", "plain", seed=4), 50)
    assert a == b
    assert sum(x["question"] != y["question"] for x, y in zip(a, c)) > 40
    # Example i alone equals example i drawn after others.
    fresh = SyntheticSource(task, "train", "plain", seed=3)
    assert [fresh[i] for i in reversed(range(50))] == a[::-1]
    assert len({x["id"] for x in a + c}) == 100


@pytest.mark.parametrize("task,difficulty", [("arith", "easy"), ("countdown", "easy")])
def test_splits_are_disjoint(task, difficulty):
  def key(ex):
    if task == "arith":
      return ex["question"]
    return (tuple(sorted(ex["numbers"])), ex["target"])
  train = {key(ex) for ex in first_examples(
      SyntheticSource(task, "train", difficulty=difficulty), 3000)}
  test = {key(ex) for ex in first_examples(
      SyntheticSource(task, "test", difficulty=difficulty, seed=1), 500)}
  assert len(test) > 300 and not train & test


def test_held_out_set_of_500():
  examples = first_examples(SyntheticSource("countdown", "test", num_examples=500))
  assert len(examples) == 500 and len({ex["id"] for ex in examples}) == 500
  assert all(ex["id"].endswith(f"/test/{i}") for i, ex in enumerate(examples))


def test_knobs_and_validation():
  ex = SyntheticSource("arith", "train", min_ops=4, max_ops=4, operators="*", mul_digits=1)[0]
  assert len(verified_steps(ex["solution"])) == 4
  assert set(re.sub(r"\d", "", ex["question"])) == {"*"}
  with pytest.raises(ValueError, match="unknown difficulty 'extreme'"):
    SyntheticSource("arith", "train", difficulty="extreme")
  with pytest.raises(ValueError, match=r"unknown knobs \['num_ops'\]"):
    SyntheticSource("arith", "train", num_ops=3)
  with pytest.raises(ValueError, match="need '\\+' or '\\*'"):
    SyntheticSource("countdown", "train", operators="-/")
  with pytest.raises(ValueError, match="unknown split 'valid'"):
    SyntheticSource("countdown", "valid")
  with pytest.raises(IndexError):
    SyntheticSource("arith", "test", num_examples=5)[5]


def test_teacher_knobs_change_reference_traces_only():
  """truncate_rate (a sloppy teacher: one step short, answering the intermediate result) and
  recheck_rate (the last step written again before </think>) act at about their rates, on
  their own draws, and never change a problem, its answer, its solution or (at their
  defaults) its id."""
  knobs = dict(difficulty="easy", min_ops=3, max_ops=3, digits=1, operators="+-")
  n = 400
  clean = [SyntheticSource("arith", "train", **knobs)[i] for i in range(n)]
  # The ids the code wrote before recheck_rate existed (r1jax at 9ab3722).
  assert [e["id"] for e in clean[:2]] == ["arith/d297c681/0/train/0", "arith/d297c681/0/train/1"]
  both = SyntheticSource("arith", "train", truncate_rate=0.5, recheck_rate=0.5, **knobs)
  trunc = SyntheticSource("arith", "train", truncate_rate=0.5, **knobs)
  n_trunc = n_recheck = 0
  for i, ref in enumerate(clean):
    ex, t = both[i], trunc[i]
    assert all(ex[k] == ref[k] == t[k] for k in ("question", "answer", "solution"))
    steps = ref["solution"].splitlines()
    cut = t["completion"] != ref["completion"]
    n_trunc += cut
    written = steps[:-1] if cut else steps
    answer = written[-1].split("=")[1]
    assert t["completion"] == f"<think>{''.join(x + chr(10) for x in written)}</think>" \
        f"<answer>{answer}</answer>"
    think = ex["completion"][len("<think>"):ex["completion"].index("</think>")].splitlines()
    assert think in (written, written + written[-1:]), (think, written)  # Same truncation.
    n_recheck += think == written + written[-1:]
    assert ex["completion"].endswith(f"<answer>{answer}</answer>")
  assert abs(n_trunc / n - 0.5) < 0.1 and abs(n_recheck / n - 0.5) < 0.1, (n_trunc, n_recheck)
  with pytest.raises(ValueError, match=r"recheck_rate must be in \[0, 1\], got 1.5"):
    SyntheticSource("arith", "train", recheck_rate=1.5)


def test_switching_teacher_abandons_a_correct_prefix_and_restarts():
  """switch_rate: a trace drops its chain after 1 .. L-1 correct steps, writes the switch line
  and writes the whole chain again; at about its rate, at every cut point, on its own draw
  (the truncation and the problem are unchanged) and with the id unchanged at 0."""
  knobs = dict(difficulty="easy", min_ops=3, max_ops=3, digits=1, operators="+-",
               truncate_rate=0.5)
  n = 400
  base = SyntheticSource("arith", "train", **knobs)
  switching = SyntheticSource("arith", "train", switch_rate=0.7, **knobs)
  assert SyntheticSource("arith", "train", switch_rate=0.0, **knobs)[0]["id"] == base[0]["id"]
  cuts = []
  for i in range(n):
    ref, ex = base[i], switching[i]
    assert all(ex[k] == ref[k] for k in ("question", "answer", "solution"))
    think = ref["completion"][len("<think>"):ref["completion"].index("</think>")].splitlines()
    got = ex["completion"][len("<think>"):ex["completion"].index("</think>")].splitlines()
    tail = ref["completion"][ref["completion"].index("</think>"):]
    assert ex["completion"].endswith(tail)  # The same (possibly truncated) answer.
    if got != think:
      cut = got.index(synthetic.SWITCH_WORD)
      assert got == think[:cut] + [synthetic.SWITCH_WORD] + think, (got, think)
      assert 1 <= cut <= len(think) - 1
      cuts.append(cut)
  assert abs(len(cuts) / n - 0.7) < 0.08, len(cuts)
  assert set(cuts) == {1, 2}  # Chains of 3 steps, or 2 when truncated.
  assert not set(synthetic.SWITCH_WORD[0]) & set(
      "".join(base[i]["completion"] for i in range(n)))  # TIP's token is the switch's alone.
  with pytest.raises(ValueError, match=r"switch_rate must be in \[0, 1\], got -0.1"):
    SyntheticSource("arith", "train", switch_rate=-0.1)


def test_tfds_builder_writes_the_generator_examples(tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  builder = synthetic.tfds_builder("countdown", tmp_path, difficulty="easy", seed=2,
                                   num_train=12, num_test=5)
  builder.download_and_prepare()
  assert builder.name == "r1jax_countdown"
  for split, n in (("train", 12), ("test", 5)):
    got = list(tfds.as_numpy(builder.as_dataset(split=split)))
    want = first_examples(SyntheticSource("countdown", split, difficulty="easy", seed=2), n)
    assert len(got) == n
    for g, w in zip(got, want):
      assert g["numbers"].tolist() == w["numbers"] and int(g["target"]) == w["target"]
      for key in ("question", "answer", "solution", "completion", "task", "id"):
        assert g[key].decode() == w[key]
