"""Prompt templates render byte-exact strings.

The Qwen2.5 and Llama-3 expectations are what transformers 5.24's `apply_chat_template`
rendered (with add_generation_prompt=True) from the models' published chat templates for the
same conversations, recorded here as literals so the tests need neither transformers nor Jinja.
"""
import pytest

from r1jax import templates

Q = "What is 2+3?"
QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

# Qwen2.5-Instruct, [system (the Qwen2.5-Math prompt), user].
QWEN_MATH_REF = (
    "<|im_start|>system\nPlease reason step by step, and put your final answer within "
    "\\boxed{}.<|im_end|>\n<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n")
# Qwen2.5-Instruct, [user] only: its template inserts the default system prompt.
QWEN_USER_ONLY_REF = (
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    "<|im_end|>\n<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n")
# Meta-Llama-3-Instruct, [user] (its template trims the content and starts with the BOS text).
LLAMA3_REF = ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+3?"
              "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
R1_ZERO_REF = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
    "process here </think> <answer> answer here </answer>. User: What is 2+3?. Assistant:")


def test_qwen_chat_matches_transformers():
  assert templates.qwen_chat(Q) == QWEN_MATH_REF
  assert templates.qwen_chat(Q, system=QWEN_DEFAULT_SYSTEM) == QWEN_USER_ONLY_REF
  assert templates.qwen_chat("  " + Q + "\n") == QWEN_MATH_REF  # The question is stripped.


def test_qwen_chat_messages_adds_no_default_system_prompt():
  # Unlike Qwen2.5's own template, which inserts QWEN_DEFAULT_SYSTEM into a conversation
  # without a system message, this renders exactly the messages given.
  got = templates.qwen_chat_messages([{"role": "user", "content": Q}])
  assert got == "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"
  assert QWEN_USER_ONLY_REF.endswith(got)
  assert templates.qwen_chat_messages([{"role": "user", "content": Q}],
                                      add_generation_prompt=False) == (
                                          "<|im_start|>user\nWhat is 2+3?<|im_end|>\n")


def test_llama3_chat_matches_transformers():
  assert templates.llama3_chat(Q) == LLAMA3_REF
  assert templates.llama3_chat("  " + Q + "\n") == LLAMA3_REF
  assert templates.llama3_chat_messages([{"role": "user", "content": Q}], bos=False) == (
      LLAMA3_REF[len("<|begin_of_text|>"):])


def test_r1_zero_and_plain():
  assert templates.r1_zero(Q) == R1_ZERO_REF
  assert templates.r1_zero("\n" + Q + "  ") == R1_ZERO_REF
  assert templates.plain("  1+2= ") == "1+2=\n"


@pytest.mark.parametrize("name,ref", [("r1_zero", R1_ZERO_REF), ("qwen_chat", QWEN_MATH_REF),
                                      ("llama3_chat", LLAMA3_REF), ("plain", Q + "\n")])
def test_render_by_name(name, ref):
  assert templates.render(name, Q) == ref


def test_render_unknown_name():
  with pytest.raises(ValueError, match="unknown template 'chatml'"):
    templates.render("chatml", Q)
