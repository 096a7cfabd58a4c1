"""Hugging Face Qwen2 / Llama checkpoints <-> r1jax params, and the convert/export command.

  config, params = load_checkpoint("Qwen2.5-Math-1.5B/", mesh=mesh)   # sharded, lazily read
  save_checkpoint("out/", config, params, base_config=read_hf_config("Qwen2.5-Math-1.5B/"))

  python -m r1jax.models.hf convert <hf_dir> <orbax_dir> [--param-dtype float32]
  python -m r1jax.models.hf export <orbax_dir> <hf_dir> [--dtype bfloat16]
  (orbax_dir may also be an RL/SFT workdir or one of its checkpoints/<step> folders)

Shape legend: L layers, D d_model, N query heads, K kv heads, H head_dim, F mlp width, V vocab.

HF stores every Linear as weight [out, in] per layer; r1jax kernels are [in, out] with heads
split out ([D, N, H] for q_proj) and stacked over a leading L axis by nn.scan. Both use RoPE's
'rotate_half' layout, so a mapping is only a transpose and a reshape (see `_layout`). Loading
reads each device's block straight from the memory-mapped safetensors files: no host or device
ever holds more than its shards plus one layer's slice of one tensor.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import pathlib
import shutil
from typing import Sequence

import jax
import numpy as np
import safetensors
import safetensors.numpy

from r1jax import sharding
from r1jax.models import orbax_io
from r1jax.models.transformer import ModelConfig
from r1jax.models import params as params_lib
# config.json <-> ModelConfig lives in hf_config.py; importable from here as before.
from r1jax.models.hf_config import (  # pylint: disable=unused-import
    ARCHITECTURES, DTYPES, config_from_hf, config_to_hf, read_hf_config)

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
# Non-persistent buffers that old exporters wrote; transformers ignores them too.
_IGNORED_SUFFIXES = (".rotary_emb.inv_freq",)


@dataclasses.dataclass(frozen=True)
class _Tensor:
  """One r1jax leaf and the HF tensor(s) it comes from.

  `groups[i]` says how many r1jax dims (of the per-layer shape) the i-th axis of the transposed
  HF tensor splits into, e.g. q_proj: HF [N*H, D] -> .T [D, N*H] -> groups (1, 2) -> [D, N, H].
  """
  path: tuple[str, ...]
  hf_name: str  # With '{l}' for per-layer tensors, stacked into a leading L axis.
  hf_shape: tuple[int, ...]
  shape: tuple[int, ...]  # r1jax shape, per layer.
  groups: tuple[int, ...]
  transpose: bool

  @property
  def stacked(self) -> bool:
    return "{l}" in self.hf_name


def _layout(c: ModelConfig) -> list[_Tensor]:
  """Every tensor of a checkpoint for `c`, in the order HF writes them."""
  V, D, N, K, H, F = (c.vocab_size, c.d_model, c.num_heads, c.num_kv_heads, c.head_dim,
                      c.mlp_dim)
  layer = "model.layers.{l}."
  out = [_Tensor(("embed", "embedding"), "model.embed_tokens.weight", (V, D), (V, D), (1, 1),
                 False)]
  for name, heads in (("q_proj", N), ("k_proj", K), ("v_proj", K)):
    out.append(_Tensor(("layers", "attn", name, "kernel"), f"{layer}self_attn.{name}.weight",
                       (heads * H, D), (D, heads, H), (1, 2), True))
    if c.qkv_bias:
      out.append(_Tensor(("layers", "attn", name, "bias"), f"{layer}self_attn.{name}.bias",
                         (heads * H,), (heads, H), (2,), False))
  out += [
      _Tensor(("layers", "attn", "o_proj", "kernel"), f"{layer}self_attn.o_proj.weight",
              (D, N * H), (N, H, D), (2, 1), True),
      _Tensor(("layers", "attn_norm", "scale"), f"{layer}input_layernorm.weight", (D,), (D,),
              (1,), False),
      _Tensor(("layers", "mlp_norm", "scale"), f"{layer}post_attention_layernorm.weight", (D,),
              (D,), (1,), False),
      _Tensor(("layers", "mlp", "gate_proj", "kernel"), f"{layer}mlp.gate_proj.weight", (F, D),
              (D, F), (1, 1), True),
      _Tensor(("layers", "mlp", "up_proj", "kernel"), f"{layer}mlp.up_proj.weight", (F, D),
              (D, F), (1, 1), True),
      _Tensor(("layers", "mlp", "down_proj", "kernel"), f"{layer}mlp.down_proj.weight", (D, F),
              (F, D), (1, 1), True),
      _Tensor(("final_norm", "scale"), "model.norm.weight", (D,), (D,), (1,), False),
  ]
  if not c.tie_embeddings:
    out.append(_Tensor(("lm_head", "kernel"), "lm_head.weight", (V, D), (D, V), (1, 1), True))
  return out


def _hf_names(t: _Tensor, num_layers: int) -> list[str]:
  return [t.hf_name.format(l=l) for l in range(num_layers)] if t.stacked else [t.hf_name]


# ---------------------------------------------------------------------------------------------
# Loading


def _tensor_files(folder: pathlib.Path) -> dict[str, pathlib.Path]:
  """HF tensor name -> the safetensors file holding it (from the index, or the lone file)."""
  index = folder / INDEX_FILE
  if index.is_file():
    weight_map = json.loads(index.read_text()).get("weight_map")
    if not isinstance(weight_map, dict):
      raise ValueError(f"{index}: no 'weight_map' object")
    out = {name: folder / file for name, file in weight_map.items()}
    for name, file in out.items():
      if not file.is_file():
        raise ValueError(f"{index}: tensor {name!r} maps to {file.name}, which is missing")
    return out
  files = sorted(folder.glob("*.safetensors"))
  if not files:
    raise ValueError(f"{folder}: no *.safetensors files (and no {INDEX_FILE})")
  out = {}
  for file in files:
    with safetensors.safe_open(str(file), framework="numpy") as f:
      for name in f.keys():
        if name in out:
          raise ValueError(f"{folder}: tensor {name!r} is in both {out[name].name} and "
                           f"{file.name}")
        out[name] = file
  return out


def _check_tensors(layout: list[_Tensor], c: ModelConfig, files: dict[str, pathlib.Path],
                   handles, folder: pathlib.Path) -> None:
  """Missing, unexpected or wrongly shaped tensors raise before anything is loaded."""
  expected = {n: t for t in layout for n in _hf_names(t, c.num_layers)}
  for name in sorted(files):
    if name not in expected and not name.endswith(_IGNORED_SUFFIXES):
      hint = " (config.json ties the embeddings)" if name == "lm_head.weight" else ""
      raise ValueError(f"{files[name]}: unexpected tensor {name!r}{hint}")
  keys = {f: set(h.keys()) for f, h in handles.items()}
  for name, t in expected.items():
    if name not in files:
      raise ValueError(f"{folder}: missing tensor {name!r}")
    if name not in keys[files[name]]:
      raise ValueError(f"{files[name]}: missing tensor {name!r} (the index lists it here)")
    sl = handles[files[name]].get_slice(name)
    shape, dtype = tuple(sl.get_shape()), sl.get_dtype()
    if shape != t.hf_shape:
      raise ValueError(f"{files[name]}: tensor {name!r} has shape {list(shape)}, expected "
                       f"{list(t.hf_shape)} from config.json")
    if dtype not in ("F32", "BF16", "F16"):
      raise ValueError(f"{files[name]}: tensor {name!r} has unsupported dtype {dtype}")


def _read_block(handle, name: str, t: _Tensor, index: Sequence[slice], dtype) -> np.ndarray:
  """The block `index` (slices of the per-layer r1jax shape) of HF tensor `name`.

  Each group's outer dim is sliced in the file (a contiguous row range, read from the memory
  map); inner dims of a group (head_dim) are read whole and sliced afterwards.
  """
  file_slices, block_shape, inner = [], [], []
  d = 0
  for g in t.groups:
    dims, sl = t.shape[d:d + g], index[d:d + g]
    size = math.prod(dims[1:])
    start, stop, _ = sl[0].indices(dims[0])
    file_slices.append(slice(start * size, stop * size))
    block_shape += [stop - start, *dims[1:]]
    inner += [slice(None), *sl[1:]]
    d += g
  if t.transpose:
    file_slices.reverse()
  block = handle.get_slice(name)[tuple(file_slices)]
  if t.transpose:
    block = block.T
  return np.asarray(block.reshape(block_shape)[tuple(inner)], dtype=dtype)


def load_checkpoint(path, mesh=None, rules=None, **overrides) -> tuple[ModelConfig, dict]:
  """(ModelConfig, params) from a Hugging Face Qwen2/Llama folder.

  mesh/rules: place each tensor directly onto `params_lib.param_shardings(config, mesh, rules)`
  (default: one device). overrides: ModelConfig fields, e.g. param_dtype='float32' for
  training; by default params keep the checkpoint's dtype. Any problem with the checkpoint
  raises ValueError naming the file and tensor or field, before any array is created.
  """
  folder = pathlib.Path(path)
  config = config_from_hf(read_hf_config(folder), str(folder / "config.json"), **overrides)
  layout = _layout(config)
  files = _tensor_files(folder)
  if mesh is None:
    one_device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    shardings = jax.tree.map(lambda _: one_device, _abstract_tree(layout, config))
  else:
    shardings = params_lib.param_shardings(config, mesh, sharding.rules_from_config(rules))
  dtype = np.dtype(config.param_dtype)
  params: dict = {}
  with contextlib.ExitStack() as stack:
    handles = {f: stack.enter_context(safetensors.safe_open(str(f), framework="numpy"))
               for f in sorted(set(files.values()))}
    _check_tensors(layout, config, files, handles, folder)
    for t in layout:
      names = _hf_names(t, config.num_layers)

      def block(index, t=t, names=names):
        if not t.stacked:
          return _read_block(handles[files[names[0]]], names[0], t, index, dtype)
        layers = range(*index[0].indices(len(names)))
        return np.stack([_read_block(handles[files[names[l]]], names[l], t, index[1:], dtype)
                         for l in layers])

      _set(params, t.path, jax.make_array_from_callback(
          _full_shape(t, config), _get(shardings, t.path), block))
  return config, params


def _full_shape(t: _Tensor, c: ModelConfig) -> tuple[int, ...]:
  return ((c.num_layers,) if t.stacked else ()) + t.shape


def _abstract_tree(layout: list[_Tensor], c: ModelConfig) -> dict:
  tree: dict = {}
  for t in layout:
    _set(tree, t.path, jax.ShapeDtypeStruct(_full_shape(t, c), np.dtype(c.param_dtype)))
  return tree


def _get(tree, path):
  for k in path:
    tree = tree[k]
  return tree


def _set(tree, path, value):
  for k in path[:-1]:
    tree = tree.setdefault(k, {})
  tree[path[-1]] = value


# ---------------------------------------------------------------------------------------------
# Saving


def _hf_tensor(leaf, t: _Tensor, l: int | None, dtype) -> np.ndarray:
  """The HF tensor of layer `l` (or of an unstacked leaf), gathered to the host."""
  x = np.asarray(jax.device_get(leaf if l is None else leaf[l]))
  d, merged = 0, []
  for g in t.groups:
    merged.append(math.prod(t.shape[d:d + g]))
    d += g
  x = x.reshape(merged)
  return np.ascontiguousarray((x.T if t.transpose else x).astype(dtype))


def save_checkpoint(path, config: ModelConfig, params, base_config: dict | None = None,
                    dtype: str | None = None, max_shard_bytes: int = 4 << 30) -> None:
  """Writes `params` as a Hugging Face folder (config.json + safetensors [+ index]).

  base_config: a source config.json dict whose other fields (token ids, ...) are kept.
  dtype: tensor dtype on disk (default: config.param_dtype). Tensors are gathered one layer
  at a time and files are written one at a time, so host memory holds one file's worth.
  """
  folder = pathlib.Path(path)
  folder.mkdir(parents=True, exist_ok=True)
  stale = sorted(folder.glob("*.safetensors")) + sorted(folder.glob(INDEX_FILE))
  if stale:
    raise ValueError(f"save_checkpoint: {stale[0]} already exists; write to an empty folder")
  dtype = dtype or config.param_dtype
  if dtype not in DTYPES:
    raise ValueError(f"save_checkpoint: dtype must be one of {DTYPES}, got {dtype!r}")
  np_dtype = np.dtype(dtype)
  layout = _layout(config)
  for t in layout:
    try:
      leaf = _get(params, t.path)
    except (KeyError, TypeError):
      raise ValueError(f"save_checkpoint: params lack {'/'.join(t.path)}") from None
    want = _full_shape(t, config)
    if tuple(leaf.shape) != want:
      raise ValueError(f"save_checkpoint: params {'/'.join(t.path)} has shape "
                       f"{list(leaf.shape)}, expected {list(want)}")

  shards: list[list[tuple[_Tensor, int | None, str]]] = [[]]
  size = 0
  for t in layout:
    nbytes = math.prod(t.hf_shape) * np_dtype.itemsize
    for l, name in enumerate(_hf_names(t, config.num_layers)):
      if shards[-1] and size + nbytes > max_shard_bytes:
        shards.append([])
        size = 0
      shards[-1].append((t, l if t.stacked else None, name))
      size += nbytes
  n = len(shards)
  weight_map, total = {}, 0
  for i, shard in enumerate(shards):
    file = SINGLE_FILE if n == 1 else f"model-{i + 1:05d}-of-{n:05d}.safetensors"
    tensors = {name: _hf_tensor(_get(params, t.path), t, l, np_dtype) for t, l, name in shard}
    safetensors.numpy.save_file(tensors, str(folder / file), metadata={"format": "pt"})
    for name, x in tensors.items():
      weight_map[name] = file
      total += x.nbytes
  if n > 1:
    (folder / INDEX_FILE).write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
  (folder / "config.json").write_text(
      json.dumps(config_to_hf(config, dtype, base_config), indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# Command line


def side_files(folder: pathlib.Path) -> list[pathlib.Path]:
  """Files served beside the weights (tokenizer, generation config), not the weights."""
  return [p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix != ".safetensors"
          and p.name not in (INDEX_FILE, "config.json")]


def convert(hf_dir, orbax_dir, param_dtype: str | None = None) -> None:
  """HF folder -> orbax params + model_config.json; config.json and tokenizer files are kept
  under <orbax_dir>/hf/ so `export` can write a complete, servable folder back."""
  overrides = {} if param_dtype is None else {"param_dtype": param_dtype}
  mesh = sharding.make_mesh({"fsdp": -1})
  config, params = load_checkpoint(hf_dir, mesh=mesh, **overrides)
  orbax_dir = pathlib.Path(orbax_dir)
  orbax_io.save_orbax(orbax_dir, config, params)
  keep = orbax_dir / "hf"
  keep.mkdir()
  shutil.copy(pathlib.Path(hf_dir) / "config.json", keep / "config.json")
  for f in side_files(pathlib.Path(hf_dir)):
    shutil.copy(f, keep / f.name)


def export(orbax_dir, hf_dir, dtype: str | None = None) -> None:
  """A model -> a Hugging Face folder. `orbax_dir` is any path `locate.resolve` accepts: a
  save_orbax folder (`convert`, sft_main's or grpo_main's <workdir>/model), a run workdir, or
  one training-checkpoint step <workdir>/checkpoints/<step>."""
  from r1jax.models import locate  # pylint: disable=g-import-not-at-top
  hf_dir = pathlib.Path(hf_dir)
  config, params = locate.load(orbax_dir, mesh=sharding.make_mesh({"fsdp": -1}))
  found = locate.resolve(orbax_dir)
  model_dir = found.path if found.kind == "model" else found.config_file.parent / locate.MODEL_DIR
  keep = model_dir / "hf"
  base = read_hf_config(keep) if (keep / "config.json").is_file() else None
  save_checkpoint(hf_dir, config, params, base_config=base, dtype=dtype)
  if keep.is_dir():
    for f in side_files(keep):
      shutil.copy(f, hf_dir / f.name)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(prog="python -m r1jax.models.hf",
                                   description="Convert between Hugging Face and orbax.")
  sub = parser.add_subparsers(dest="command", required=True)
  p = sub.add_parser("convert", help="Hugging Face folder -> orbax folder")
  p.add_argument("hf_dir")
  p.add_argument("orbax_dir")
  p.add_argument("--param-dtype", choices=DTYPES, help="default: the checkpoint's dtype")
  p = sub.add_parser("export", help="orbax model folder, run workdir or checkpoint step -> "
                     "Hugging Face folder")
  p.add_argument("orbax_dir", help="a model folder (model_config.json + params/), a run "
                 "workdir (its model/, else its latest checkpoint) or <workdir>/checkpoints/<step>")
  p.add_argument("hf_dir")
  p.add_argument("--dtype", choices=DTYPES, help="default: the params' dtype")
  args = parser.parse_args(argv)
  if args.command == "convert":
    convert(args.hf_dir, args.orbax_dir, args.param_dtype)
  else:
    export(args.orbax_dir, args.hf_dir, args.dtype)


if __name__ == "__main__":
  main()
