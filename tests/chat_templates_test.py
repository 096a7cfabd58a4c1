"""Prompts from a Hugging Face folder's chat_template (Jinja2), and the tokenizer default."""
import json

import pytest

import bpe_tokenizer
from r1jax import chat_templates, templates
from r1jax.train import defaults, setup

needs_jinja2 = pytest.mark.skipif(not chat_templates.jinja2_available(),
                                  reason="jinja2 not installed (pip install -e .)")


@needs_jinja2
def test_folder_template_renders_like_the_hand_written_chatml(tmp_path):
  folder = bpe_tokenizer.make_folder(tmp_path / "tok")
  got = templates.render(f"chat:{folder}", "  What is 2+3?\n")
  assert got == templates.qwen_chat_messages([{"role": "user", "content": "What is 2+3?"}])


@needs_jinja2
def test_special_tokens_loops_and_raise_exception(tmp_path):
  (tmp_path / "tokenizer_config.json").write_text(json.dumps({
      "bos_token": {"content": "<s>"}, "eos_token": "</s>",
      "chat_template": "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}"
                       "{{ raise_exception('no system role') }}{% endif %}[{{ m['role'] }}]"
                       "{{ m['content'] | tojson }}{% endfor %}"
                       "{% if add_generation_prompt %}[assistant]{% endif %}"}))
  msgs = [{"role": "user", "content": "héllo"}]
  assert chat_templates.render_messages(tmp_path, msgs) == '<s>[user]"héllo"[assistant]'
  with pytest.raises(ValueError, match="no system role"):
    chat_templates.render_messages(tmp_path, [{"role": "system", "content": "x"}])


@needs_jinja2
def test_errors_name_the_file(tmp_path):
  with pytest.raises(ValueError, match="tokenizer_config.json not found"):
    templates.render(f"chat:{tmp_path}", "q")
  (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "x"}))
  with pytest.raises(ValueError, match="no 'chat_template'"):
    templates.render(f"chat:{tmp_path / '.'}", "q")
  bad = tmp_path / "bad"
  bad.mkdir()
  (bad / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{% for %}"}))
  with pytest.raises(ValueError, match="chat_template line 1"):
    templates.render(f"chat:{bad}", "q")


def test_tokenizer_defaults_to_the_model_folder(tmp_path):
  c = defaults.base_config()
  assert setup.tokenizer_spec(c) == "char:math"
  c.model.hf_checkpoint = str(tmp_path)
  assert setup.tokenizer_spec(c) == str(tmp_path)
  c.tokenizer = "char:math"  # A weights-only folder may take an explicit toy tokenizer ...
  assert setup.tokenizer_spec(c) == "char:math"
  (tmp_path / "tokenizer.json").write_text("{}")  # ... but not one that ships its own.
  with pytest.raises(setup.ConfigError, match="config.tokenizer"):
    setup.tokenizer_spec(c)
