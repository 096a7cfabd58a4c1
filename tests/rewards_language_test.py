"""Tests for r1jax.rewards.language: chain-of-thought language consistency."""
import pytest

from r1jax.rewards import language


@pytest.mark.parametrize("completion,script,expected", [
    ("<think>Let me think about this.</think><answer>5</answer>", "latin", 1.0),
    ("<think>\u6211\u4eec\u6765\u7b97</think><answer>5</answer>", "latin", 0.0),
    ("<think>\u6211\u4eec\u6765\u7b97</think><answer>5</answer>", "cjk", 1.0),
    ("<think>so \u6240\u4ee5</think>", "latin", 0.5),  # 2 Latin letters of 4
    ("<think>x = 5, y = 2</think>", "latin", 0.0),  # variables only: no words
    ("<think>$\\frac{a}{b}$ \u043f\u0440\u0438\u0432\u0435\u0442</think>", "cyrillic", 1.0),
    ("plain text without tags", "latin", 1.0),
    ("", "latin", 0.0),
])
def test_script_share(completion, script, expected):
  assert language.consistency(completion, script) == pytest.approx(expected, abs=1e-12)


def test_vocabulary_share():
  completion = "<think>first add then wir rechnen</think>"
  assert language.consistency(completion, vocabulary=["first", "add", "then"]) == pytest.approx(0.6)


def test_unknown_script():
  with pytest.raises(ValueError, match="unknown script"):
    language.consistency("<think>a</think>", "klingon")


def test_chain_of_thought_boundaries():
  assert language.chain_of_thought("<think>abc</think>def") == "abc"
  assert language.chain_of_thought("abc<answer>def</answer>") == "abc"
  assert language.chain_of_thought("<think>abc") == "abc"
