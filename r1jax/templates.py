"""Prompt templates in plain Python: R1-Zero, Qwen2.5 chat, Llama-3 chat, plain.

`render(name, question)` returns the text the model is conditioned on; the completion the
model writes follows it directly. Kept free of Jinja so the exact bytes are reviewable here;
a real model's own template is 'chat:<folder>' (chat_templates.py, Jinja2).
"""
from __future__ import annotations

from typing import Callable, Sequence

R1_ZERO = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
    "process here </think> <answer> answer here </answer>. User: {question}. Assistant:")

QWEN_MATH_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


def r1_zero(question: str) -> str:
  """The DeepSeek-R1-Zero prompt (arXiv 2501.12948, Table 1)."""
  return R1_ZERO.format(question=question.strip())


def qwen_chat_messages(messages: Sequence[dict[str, str]], add_generation_prompt=True) -> str:
  """Qwen2.5 ChatML: <|im_start|>role\\ncontent<|im_end|>\\n ..."""
  out = []
  for m in messages:
    out.append(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n")
  if add_generation_prompt:
    out.append("<|im_start|>assistant\n")
  return "".join(out)


def qwen_chat(question: str, system: str = QWEN_MATH_SYSTEM) -> str:
  return qwen_chat_messages([{"role": "system", "content": system},
                             {"role": "user", "content": question.strip()}])


def llama3_chat_messages(messages: Sequence[dict[str, str]], add_generation_prompt=True,
                         bos: bool = True) -> str:
  """Llama-3 chat: <|start_header_id|>role<|end_header_id|>\\n\\ncontent<|eot_id|> ..."""
  out = ["<|begin_of_text|>"] if bos else []
  for m in messages:
    out.append(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>")
  if add_generation_prompt:
    out.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
  return "".join(out)


def llama3_chat(question: str) -> str:
  return llama3_chat_messages([{"role": "user", "content": question.strip()}])


def plain(question: str) -> str:
  """Question then a newline; the toy char-level models use this (short prompts)."""
  return question.strip() + "\n"


TEMPLATES: dict[str, Callable[[str], str]] = {
    "r1_zero": r1_zero,
    "qwen_chat": qwen_chat,
    "llama3_chat": llama3_chat,
    "plain": plain,
}


def render(name: str, question: str) -> str:
  """`name` is one of TEMPLATES, or 'chat:<folder>' for a Hugging Face folder's own Jinja2
  chat template (chat_templates.py)."""
  if name.startswith("chat:"):
    from r1jax import chat_templates  # pylint: disable=g-import-not-at-top
    return chat_templates.render(name, question)
  if name not in TEMPLATES:
    raise ValueError(f"template: unknown template {name!r}; choose one of {sorted(TEMPLATES)} "
                     f"or 'chat:<folder>' (the folder's tokenizer_config.json chat_template)")
  return TEMPLATES[name](question)
