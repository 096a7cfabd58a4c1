"""Hugging Face config.json <-> r1jax ModelConfig (Qwen2 and Llama families, RoPE scaling).

Used by models/hf.py (checkpoint load/save); importable from there as before.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

from r1jax.models.transformer import ModelConfig, RopeScaling

ARCHITECTURES = {"qwen2": "Qwen2ForCausalLM", "llama": "LlamaForCausalLM"}
DTYPES = ("float32", "bfloat16", "float16")  # What config.json's torch_dtype may say.

def read_hf_config(path) -> dict[str, Any]:
  """The raw config.json of a Hugging Face folder."""
  file = pathlib.Path(path) / "config.json"
  if not file.is_file():
    raise ValueError(f"{file}: not found (a Hugging Face checkpoint folder needs config.json)")
  return json.loads(file.read_text())


def _rope_from_hf(d: dict[str, Any], where: str) -> tuple[float, RopeScaling | None]:
  """(rope_theta, scaling) from transformers 4 (`rope_theta`, `rope_scaling`) or 5
  (`rope_parameters`) style fields."""
  params = d.get("rope_parameters")
  field = "rope_parameters"
  if params is None:
    params, field = d.get("rope_scaling"), "rope_scaling"
  params = params or {}
  theta = float(params.get("rope_theta", d.get("rope_theta", 10000.0)))
  kind = params.get("rope_type", params.get("type", "default"))
  if kind == "default":
    return theta, None
  if kind != "llama3":
    raise ValueError(f"{where}: {field}.rope_type {kind!r} is not supported "
                     f"(r1jax implements 'default' and 'llama3')")
  try:
    return theta, RopeScaling(
        factor=float(params["factor"]), low_freq_factor=float(params["low_freq_factor"]),
        high_freq_factor=float(params["high_freq_factor"]),
        original_max_position_embeddings=int(params["original_max_position_embeddings"]))
  except KeyError as e:
    raise ValueError(f"{where}: {field} lacks field {e.args[0]!r} for rope_type 'llama3'") from e


def config_from_hf(d: dict[str, Any], where: str = "config.json", **overrides) -> ModelConfig:
  """ModelConfig of a Qwen2/Llama config.json dict; `overrides` replace ModelConfig fields."""
  model_type = d.get("model_type")
  if model_type not in ARCHITECTURES:
    raise ValueError(f"{where}: model_type {model_type!r} is not supported; r1jax loads "
                     f"{sorted(ARCHITECTURES)}")
  archs = d.get("architectures") or [ARCHITECTURES[model_type]]
  if archs != [ARCHITECTURES[model_type]]:
    raise ValueError(f"{where}: architectures {archs} is not supported for model_type "
                     f"{model_type!r}; expected {[ARCHITECTURES[model_type]]}")

  def req(field):
    if field not in d:
      raise ValueError(f"{where}: required field {field!r} is missing")
    return d[field]

  def must_be(field, ok, default):
    if d.get(field, default) not in ok:
      raise ValueError(f"{where}: {field}={d[field]!r} is not supported (r1jax needs {ok[0]!r})")

  must_be("hidden_act", ("silu",), "silu")
  if model_type == "qwen2":
    must_be("use_sliding_window", (False,), False)
    if any(t != "full_attention" for t in d.get("layer_types") or ()):
      raise ValueError(f"{where}: layer_types {d['layer_types']} is not supported "
                       f"(r1jax has only full attention)")
  else:
    must_be("attention_bias", (False,), False)  # Llama's bias also covers o_proj.
    must_be("mlp_bias", (False,), False)
  theta, scaling = _rope_from_hf(d, where)
  heads = int(req("num_attention_heads"))
  dtype = d.get("dtype", d.get("torch_dtype"))
  dtype = dtype if dtype in DTYPES else "float32"
  fields = dict(
      vocab_size=int(req("vocab_size")), d_model=int(req("hidden_size")),
      num_layers=int(req("num_hidden_layers")), num_heads=heads,
      num_kv_heads=int(d.get("num_key_value_heads") or heads),
      head_dim=int(d.get("head_dim") or req("hidden_size") // heads),
      mlp_dim=int(req("intermediate_size")), rms_norm_eps=float(d.get("rms_norm_eps", 1e-6)),
      rope_theta=theta, rope_scaling=scaling, qkv_bias=model_type == "qwen2",
      tie_embeddings=bool(d.get("tie_word_embeddings", False)), param_dtype=dtype, dtype=dtype,
      max_seq_len=int(d.get("max_position_embeddings", 4096)))
  unknown = set(overrides) - {f.name for f in dataclasses.fields(ModelConfig)}
  if unknown:
    raise ValueError(f"load_checkpoint: unknown ModelConfig field(s) {sorted(unknown)}")
  fields.update(overrides)
  return ModelConfig(**fields)


# Fields whose value follows from the ModelConfig; everything else in a base config.json
# (token ids, generation defaults, ...) is copied through by `config_to_hf`.
_OWNED_FIELDS = ("architectures", "model_type", "vocab_size", "hidden_size", "num_hidden_layers",
                 "num_attention_heads", "num_key_value_heads", "head_dim", "intermediate_size",
                 "rms_norm_eps", "rope_theta", "rope_scaling", "rope_parameters",
                 "tie_word_embeddings", "torch_dtype", "dtype", "max_position_embeddings",
                 "hidden_act", "attention_bias", "mlp_bias", "use_sliding_window",
                 "layer_types")


def config_to_hf(c: ModelConfig, dtype: str, base: dict[str, Any] | None = None) -> dict:
  """A config.json dict (transformers 4 field names, which 5 and other servers also read)."""
  model_type = "qwen2" if c.qkv_bias else "llama"
  if model_type == "qwen2" and c.head_dim * c.num_heads != c.d_model:
    # Qwen2 configs have no head_dim field: readers derive it as hidden_size // heads.
    raise ValueError(f"save_checkpoint: a Qwen2 checkpoint needs head_dim * num_heads == "
                     f"d_model, got {c.head_dim} * {c.num_heads} != {c.d_model}")
  out = {k: v for k, v in (base or {}).items() if k not in _OWNED_FIELDS}
  out.update(
      architectures=[ARCHITECTURES[model_type]], model_type=model_type,
      vocab_size=c.vocab_size, hidden_size=c.d_model, num_hidden_layers=c.num_layers,
      num_attention_heads=c.num_heads, num_key_value_heads=c.num_kv_heads, head_dim=c.head_dim,
      intermediate_size=c.mlp_dim, hidden_act="silu", rms_norm_eps=c.rms_norm_eps,
      rope_theta=c.rope_theta, tie_word_embeddings=c.tie_embeddings, torch_dtype=dtype,
      max_position_embeddings=c.max_seq_len,
      rope_scaling=None if c.rope_scaling is None else dict(
          rope_type="llama3", **dataclasses.asdict(c.rope_scaling)))
  if model_type == "qwen2":
    out["use_sliding_window"] = False
  else:
    out.update(attention_bias=False, mlp_bias=False)
  return out
