"""Prompts rendered with a Hugging Face folder's own chat template, as transformers does.

`data.template = "chat:<folder>"` renders each question as one user message through the
Jinja2 `chat_template` of <folder>/tokenizer_config.json (Qwen2.5, Llama-3, DeepSeek-R1
distills...), with the generation prompt added: the exact text the model was tuned on, kept in
step with the tokenizer it ships with. The environment is transformers': a sandbox (templates
are data, not code), trim_blocks/lstrip_blocks, loop controls, `raise_exception` and a `tojson`
filter; the folder's special tokens (bos_token, eos_token, ...) are passed by name. The
hand-written templates in templates.py stay for the toy tasks.
"""
from __future__ import annotations

import datetime
import functools
import json
import pathlib
from typing import Any, Mapping, Sequence

PREFIX = "chat:"
_TOKEN_KEYS = ("bos_token", "eos_token", "pad_token", "unk_token", "sep_token", "cls_token",
               "mask_token")


def _token_text(value) -> str | None:
  return value.get("content") if isinstance(value, dict) else value


@functools.lru_cache(maxsize=16)
def _load(folder: str):
  """(compiled template, special-token kwargs) of a folder; ValueError naming the file."""
  path = pathlib.Path(folder) / "tokenizer_config.json"
  if not path.is_file():
    raise ValueError(f"template chat:{folder}: {path} not found")
  try:
    config = json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise ValueError(f"{path}: invalid JSON ({e.msg} at line {e.lineno})") from e
  source = config.get("chat_template")
  if isinstance(source, list):  # Several named templates: transformers uses 'default'.
    named = {t.get("name"): t.get("template") for t in source if isinstance(t, dict)}
    source = named.get("default")
  if not isinstance(source, str) or not source:
    raise ValueError(f"{path}: no 'chat_template' (a Jinja2 string) to render prompts with; "
                     f"choose a hand-written data.template instead")
  try:
    import jinja2  # pylint: disable=g-import-not-at-top
    import jinja2.ext  # pylint: disable=g-import-not-at-top
    from jinja2 import sandbox  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ValueError("templates 'chat:<folder>' need the jinja2 package (pip install jinja2)"
                     ) from e

  def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)

  def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)

  env = sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                              extensions=[jinja2.ext.loopcontrols])
  env.filters["tojson"] = tojson
  env.globals["raise_exception"] = raise_exception
  env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
  try:
    template = env.from_string(source)
  except jinja2.exceptions.TemplateSyntaxError as e:
    raise ValueError(f"{path}: chat_template line {e.lineno}: {e.message}") from e
  tokens = {k: _token_text(config[k]) for k in _TOKEN_KEYS if config.get(k) is not None}
  return template, tokens


def render_messages(folder, messages: Sequence[Mapping[str, Any]],
                    add_generation_prompt: bool = True) -> str:
  """The folder's chat template applied to `messages` (dicts with 'role' and 'content')."""
  template, tokens = _load(str(pathlib.Path(folder).absolute()))
  import jinja2  # pylint: disable=g-import-not-at-top
  try:
    return template.render(messages=[dict(m) for m in messages],
                           add_generation_prompt=add_generation_prompt, **tokens)
  except jinja2.exceptions.TemplateError as e:
    raise ValueError(f"template chat:{folder}: {e}") from e


def jinja2_available() -> bool:
  try:
    import jinja2  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return False
  return True


def render(name: str, question: str) -> str:
  """`name` is 'chat:<folder>': the question as one user turn, then the generation prompt."""
  folder = name[len(PREFIX):]
  if not folder:
    raise ValueError("template 'chat:' needs a folder: 'chat:<Hugging Face folder>'")
  return render_messages(folder, [{"role": "user", "content": question.strip()}])
