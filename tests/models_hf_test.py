"""Hugging Face checkpoints: parity with transformers, round trips, sharded loading, errors.

The fixtures in tests/fixtures/hf_parity are tiny Qwen2 (qkv bias, tied embeddings, one file)
and Llama (untied, Llama-3 RoPE scaling, four files + index) checkpoints written by
transformers 5.24 with its reference float32 logits and greedy continuations; regenerate them
with scripts/make_parity_fixtures.py.
"""
import json
import pathlib
import shutil

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors
import safetensors.numpy

from r1jax import sharding
from r1jax.models import hf
from r1jax.models import orbax_io
from r1jax.models.transformer import RopeScaling, Transformer
from r1jax.models import params as params_lib

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "hf_parity"
MODELS = ["qwen2", "llama"]
# float32 end to end; measured max abs logit error vs transformers is ~2e-5 (logits std ~1.7).
ATOL = 1e-4


def _reference(name):
  return np.load(FIXTURES / f"{name}_reference.npz")


def _logits(config, params, tokens):
  return np.asarray(jax.jit(lambda p, t: Transformer(config).apply({"params": p}, t))(
      params, jnp.asarray(tokens)))


def _hf_tensors(folder):
  """name -> array for every tensor of a HF folder (tiny fixtures only)."""
  out = {}
  for f in sorted(pathlib.Path(folder).glob("*.safetensors")):
    out.update(safetensors.numpy.load_file(str(f)))
  return out


def _copy(name, tmp_path):
  return pathlib.Path(shutil.copytree(FIXTURES / name, tmp_path / name))


@pytest.mark.parametrize("name", MODELS)
def test_logits_match_transformers(name):
  ref = _reference(name)
  config, params = hf.load_checkpoint(FIXTURES / name)
  assert (config.qkv_bias, config.tie_embeddings) == ((True, True) if name == "qwen2" else
                                                      (False, False))
  if name == "llama":
    assert config.rope_scaling == RopeScaling(8.0, 1.0, 4.0, 64)
  # The tree is exactly the model's own: same paths, shapes and dtypes.
  init = nn.meta.unbox(params_lib.abstract_params(config))
  assert jax.tree.structure(params) == jax.tree.structure(init)
  assert jax.tree.map(lambda x: (x.shape, x.dtype), params) == jax.tree.map(
      lambda x: (x.shape, x.dtype), init)
  err = np.max(np.abs(_logits(config, params, ref["tokens_BxT"]) - ref["logits_BxTxV"]))
  assert err < ATOL, err


@pytest.mark.parametrize("name", MODELS)
def test_greedy_continuation_matches_transformers(name):
  ref = _reference(name)
  config, params = hf.load_checkpoint(FIXTURES / name)
  prompt, want = ref["prompt_BxP"], ref["greedy_BxG"]
  P, G = prompt.shape[1], want.shape[1]
  # Causal model: the zeros after the cursor never influence the logits before it.
  buf = jnp.zeros((prompt.shape[0], P + G), jnp.int32).at[:, :P].set(prompt)
  fwd = jax.jit(lambda p, t: Transformer(config).apply({"params": p}, t))
  for i in range(G):
    buf = buf.at[:, P + i].set(jnp.argmax(fwd(params, buf)[:, P + i - 1], axis=-1))
  np.testing.assert_array_equal(np.asarray(buf[:, P:]), want)


def test_parity_test_is_sensitive_to_rope_scaling_and_bias():
  ref = _reference("llama")
  config, params = hf.load_checkpoint(FIXTURES / "llama", rope_scaling=None)
  assert np.max(np.abs(_logits(config, params, ref["tokens_BxT"]) - ref["logits_BxTxV"])) > 0.1
  ref = _reference("qwen2")
  config, params = hf.load_checkpoint(FIXTURES / "qwen2")
  params["layers"]["attn"]["q_proj"]["bias"] *= 0
  assert np.max(np.abs(_logits(config, params, ref["tokens_BxT"]) - ref["logits_BxTxV"])) > 0.1


@pytest.mark.parametrize("axes", [dict(data=2, fsdp=2, tensor=2), dict(fsdp=8)], ids=str)
def test_sharded_load_on_8_devices(axes, monkeypatch):
  assert len(jax.devices()) == 8
  mesh = sharding.make_mesh(axes)
  blocks = []

  def read_block(*args, read=hf._read_block):
    blocks.append((args[1], read(*args).shape))
    return read(*args)

  for name in MODELS:
    ref = _reference(name)
    _, plain = hf.load_checkpoint(FIXTURES / name)
    with monkeypatch.context() as m:
      m.setattr(hf, "_read_block", read_block)
      config, params = hf.load_checkpoint(FIXTURES / name, mesh=mesh)
    up = params["layers"]["mlp"]["up_proj"]["kernel"]
    assert up.sharding == params_lib.param_shardings(config, mesh)["layers"]["mlp"]["up_proj"][
        "kernel"] and not up.sharding.is_fully_replicated
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
                 params, plain)
    with sharding.activation_sharding(mesh):
      err = np.max(np.abs(_logits(config, params, ref["tokens_BxT"]) - ref["logits_BxTxV"]))
    assert err < ATOL, err
  # Devices read only their blocks: up_proj ([D=64, F=128] per layer) is split 8 ways here.
  up_reads = {shape for n, shape in blocks if n == "model.layers.0.mlp.up_proj.weight"}
  assert up_reads == {(32, 64) if axes.get("tensor") else (8, 128)}, up_reads


@pytest.mark.parametrize("name", MODELS)
def test_load_save_load_round_trip(name, tmp_path):
  config, params = hf.load_checkpoint(FIXTURES / name, mesh=sharding.make_mesh({"fsdp": 8}))
  original = hf.read_hf_config(FIXTURES / name)
  out = tmp_path / "out"
  # A small shard limit forces the multi-file layout with an index.
  hf.save_checkpoint(out, config, params, base_config=original, max_shard_bytes=100_000)
  assert (out / hf.INDEX_FILE).is_file() and len(list(out.glob("*.safetensors"))) > 2
  want, got = _hf_tensors(FIXTURES / name), _hf_tensors(out)
  assert sorted(got) == sorted(want)
  for k in want:
    assert got[k].dtype == want[k].dtype
    np.testing.assert_array_equal(got[k], want[k], err_msg=k)
  config2, params2 = hf.load_checkpoint(out)
  assert config2 == config
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
               params, params2)
  # config.json: the same model, and the token ids r1jax does not model are kept.
  saved = hf.read_hf_config(out)
  assert hf.config_from_hf(saved) == hf.config_from_hf(original)
  assert saved["architectures"] == original["architectures"]
  assert (saved["bos_token_id"], saved["eos_token_id"]) == (1, 2)


def test_bfloat16_save_and_load(tmp_path):
  config, params = hf.load_checkpoint(FIXTURES / "llama")
  hf.save_checkpoint(tmp_path / "bf16", config, params, dtype="bfloat16")
  assert hf.read_hf_config(tmp_path / "bf16")["torch_dtype"] == "bfloat16"
  with safetensors.safe_open(str(tmp_path / "bf16" / hf.SINGLE_FILE), "numpy") as f:
    assert f.get_slice("model.norm.weight").get_dtype() == "BF16"
  config16, params16 = hf.load_checkpoint(tmp_path / "bf16")
  assert config16.param_dtype == config16.dtype == "bfloat16"
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(
      np.asarray(a), np.asarray(b).astype(jnp.bfloat16)), params16, params)
  config32, params32 = hf.load_checkpoint(tmp_path / "bf16", param_dtype="float32")
  assert params32["embed"]["embedding"].dtype == jnp.float32


def test_transformers_4_config_fields_parse_the_same(tmp_path):
  folder = _copy("llama", tmp_path)
  d = hf.read_hf_config(folder)
  rope = d.pop("rope_parameters")
  d["rope_theta"] = rope.pop("rope_theta")
  d["rope_scaling"] = rope
  d["torch_dtype"] = d.pop("dtype")
  (folder / "config.json").write_text(json.dumps(d))
  assert hf.load_checkpoint(folder)[0] == hf.load_checkpoint(FIXTURES / "llama")[0]


def _rewrite_qwen(tmp_path, edit_tensors=None, edit_config=None):
  folder = _copy("qwen2", tmp_path)
  if edit_tensors:
    file = folder / hf.SINGLE_FILE
    tensors = safetensors.numpy.load_file(str(file))
    edit_tensors(tensors)
    safetensors.numpy.save_file(tensors, str(file), metadata={"format": "pt"})
  if edit_config:
    d = hf.read_hf_config(folder)
    edit_config(d)
    (folder / "config.json").write_text(json.dumps(d))
  return folder


BAD = {
    "missing": (dict(edit_tensors=lambda t: t.pop("model.layers.1.mlp.up_proj.weight")),
                "missing tensor 'model.layers.1.mlp.up_proj.weight'"),
    "unexpected": (dict(edit_tensors=lambda t: t.update(
        {"model.layers.0.extra.weight": np.zeros(3, np.float32)})),
                   r"model.safetensors: unexpected tensor 'model.layers.0.extra.weight'"),
    "tied_lm_head": (dict(edit_tensors=lambda t: t.update(
        {"lm_head.weight": t["model.embed_tokens.weight"]})),
                     "unexpected tensor 'lm_head.weight' \\(config.json ties"),
    "shape": (dict(edit_tensors=lambda t: t.update({"model.norm.weight": np.ones(32, "f4")})),
              r"tensor 'model.norm.weight' has shape \[32\], expected \[64\]"),
    "model_type": (dict(edit_config=lambda d: d.update(model_type="mistral")),
                   "config.json: model_type 'mistral' is not supported"),
    "architectures": (dict(edit_config=lambda d: d.update(
        architectures=["Qwen2ForSequenceClassification"])),
                      r"architectures \['Qwen2ForSequenceClassification'\] is not supported"),
    "rope_type": (dict(edit_config=lambda d: d.update(
        rope_parameters={"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e4})),
                  "rope_parameters.rope_type 'yarn' is not supported"),
    "sliding_window": (dict(edit_config=lambda d: d.update(use_sliding_window=True)),
                       "use_sliding_window=True is not supported"),
    "required_field": (dict(edit_config=lambda d: d.pop("hidden_size")),
                       "required field 'hidden_size' is missing"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_checkpoints_fail_before_loading_anything(case, tmp_path, monkeypatch):
  edits, message = BAD[case]
  folder = _rewrite_qwen(tmp_path, **edits)
  created = []
  make = jax.make_array_from_callback
  monkeypatch.setattr(jax, "make_array_from_callback",
                      lambda *a, **k: created.append(a[0]) or make(*a, **k))
  with pytest.raises(ValueError, match=message):
    hf.load_checkpoint(folder)
  assert not created  # Nothing partially loaded.


def test_index_pointing_at_a_missing_file_or_tensor(tmp_path):
  folder = _copy("llama", tmp_path)
  index = json.loads((folder / hf.INDEX_FILE).read_text())
  name = "model.layers.1.mlp.down_proj.weight"
  right = index["weight_map"][name]
  wrong = next(f for f in index["weight_map"].values() if f != right)
  index["weight_map"][name] = wrong
  (folder / hf.INDEX_FILE).write_text(json.dumps(index))
  with pytest.raises(ValueError, match=f"{wrong}: missing tensor '{name}' \\(the index"):
    hf.load_checkpoint(folder)
  (folder / wrong).unlink()
  with pytest.raises(ValueError, match=f"maps to {wrong}, which is missing"):
    hf.load_checkpoint(folder)


def test_save_checkpoint_rejects_wrong_params(tmp_path):
  config, params = hf.load_checkpoint(FIXTURES / "qwen2")
  params["layers"]["mlp"]["up_proj"]["kernel"] = params["layers"]["mlp"]["up_proj"][
      "kernel"][:, :, :5]
  with pytest.raises(ValueError, match=r"layers/mlp/up_proj/kernel has shape \[2, 64, 5\]"):
    hf.save_checkpoint(tmp_path / "a", config, params)
  _, params = hf.load_checkpoint(FIXTURES / "qwen2")
  del params["final_norm"]
  with pytest.raises(ValueError, match="params lack final_norm/scale"):
    hf.save_checkpoint(tmp_path / "b", config, params)


def test_orbax_round_trip_sharded(tmp_path):
  config, params = hf.load_checkpoint(FIXTURES / "llama")
  orbax_io.save_orbax(tmp_path / "ckpt", config, params)
  mesh = sharding.make_mesh(dict(data=2, fsdp=2, tensor=2))
  config2, params2 = orbax_io.load_orbax(tmp_path / "ckpt", mesh=mesh)
  assert config2 == config
  assert params2["layers"]["mlp"]["up_proj"]["kernel"].sharding == params_lib.param_shardings(
      config, mesh)["layers"]["mlp"]["up_proj"]["kernel"]
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
               params, params2)
  (tmp_path / "bad.json").write_text(json.dumps({**orbax_io.config_to_dict(config), "x": 1}))
  with pytest.raises(ValueError, match=r"bad.json: unknown ModelConfig field\(s\) \['x'\]"):
    orbax_io.config_from_dict(json.loads((tmp_path / "bad.json").read_text()), "bad.json")


def test_convert_and_export_commands(tmp_path):
  src = _copy("qwen2", tmp_path)
  (src / "tokenizer_config.json").write_text('{"eos_token": "<|endoftext|>"}')
  hf.main(["convert", str(src), str(tmp_path / "orbax")])
  hf.main(["export", str(tmp_path / "orbax"), str(tmp_path / "back"), "--dtype", "bfloat16"])
  back = tmp_path / "back"
  assert (back / "tokenizer_config.json").read_text() == '{"eos_token": "<|endoftext|>"}'
  assert (back / "generation_config.json").is_file()
  assert hf.read_hf_config(back)["eos_token_id"] == 2
  want, got = _hf_tensors(src), _hf_tensors(back)
  assert sorted(got) == sorted(want)
  for k in want:
    np.testing.assert_array_equal(got[k], want[k].astype(jnp.bfloat16), err_msg=k)
