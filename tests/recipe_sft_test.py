"""SFT runs: exact resume after an interruption, untouched input params, atomic model saves,
refusal of an unfinished distillation dataset."""
import dataclasses

import jax
import numpy as np
import pytest
import recipe_toy

from r1jax.models import orbax_io
from r1jax.recipe import sft, shards
from r1jax.recipe.defaults import recipe_config
from r1jax.models.params import init_params

CFG = sft.SFTConfig.from_config(recipe_config().sft, steps=8, batch_size=8, max_len=24,
                                lr=3e-3, warmup_steps=2, checkpoint_every=4, log_every=2)


def _finetune(params, workdir, log=lambda m: None, cfg=CFG):
  return sft.finetune(params, recipe_toy.MODEL, recipe_toy.source("train"), recipe_toy.TOKENIZER,
                      cfg, workdir=workdir, log=log)


def test_interrupted_sft_resumes_exactly_and_leaves_its_input_alone(tmp_path):
  params = init_params(recipe_toy.MODEL, jax.random.key(1))
  before = jax.tree.map(np.asarray, params)
  straight = _finetune(params, tmp_path / "straight")

  def stop_at_6(msg):
    if msg.startswith("sft 6/8"):
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    _finetune(params, tmp_path / "resumed", log=stop_at_6)
  messages = []
  resumed = _finetune(params, tmp_path / "resumed", log=messages.append)
  assert messages[0].startswith("sft: resumed at step 4")
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(params)):  # Not donated away.
    np.testing.assert_array_equal(a, b)
  assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before),
                                                       jax.tree.leaves(straight)))


def test_sft_in_checkpoint_chunks_compiles_its_step_once(tmp_path, monkeypatch):
  """8 steps in chunks of 4 (checkpoint_every): one jitted step, traced once, for both."""
  made = []
  make = sft.sft_trainer.make_sft_step

  def counting_make(*args, **kwargs):
    made.append(make(*args, **kwargs))
    return made[-1]

  monkeypatch.setattr(sft.sft_trainer, "make_sft_step", counting_make)
  traces = []
  step = sft.sft_trainer.sft_step
  monkeypatch.setattr(sft.sft_trainer, "sft_step",
                      lambda *a, **k: (traces.append(1), step(*a, **k))[1])
  _finetune(init_params(recipe_toy.MODEL, jax.random.key(1)), tmp_path / "run")
  assert len(made) == 1 and len(traces) == 1, (len(made), len(traces))


def test_corrupt_latest_sft_checkpoint_falls_back_and_finishes_the_same(tmp_path):
  cfg = dataclasses.replace(CFG, checkpoint_every=2)
  params = init_params(recipe_toy.MODEL, jax.random.key(3))
  straight = _finetune(params, tmp_path / "straight", cfg=cfg)

  def stop_at_8(msg):
    if msg.startswith("sft 8/8"):
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    _finetune(params, tmp_path / "run", log=stop_at_8, cfg=cfg)
  ckpts = tmp_path / "run" / "checkpoints"
  assert sorted(int(p.name) for p in ckpts.iterdir()) == [4, 6]
  meta = ckpts / "6" / "extra" / "metadata"  # The data position, cut short (a bad disk).
  meta.write_bytes(meta.read_bytes()[:10])
  messages = []
  resumed = _finetune(params, tmp_path / "run", log=messages.append, cfg=cfg)
  assert messages[0].startswith(f"warning: checkpoint step 6 in {ckpts / '6'} does not "
                                "restore: JSONDecodeError"), messages[:3]
  assert any(m.startswith("sft: resumed at step 4") for m in messages), messages
  assert len(list((tmp_path / "run" / "checkpoints_skipped").iterdir())) == 1  # Kept aside.
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(a, b)


def test_save_model_is_atomic_and_loads_back(tmp_path):
  params = init_params(recipe_toy.MODEL, jax.random.key(2))
  (tmp_path / "model.partial").mkdir()  # Left by an interrupted save: replaced.
  path = sft.save_model(tmp_path / "model", recipe_toy.MODEL, params)
  assert not (tmp_path / "model.partial").exists()
  config, loaded = orbax_io.load_orbax(path)
  assert config == recipe_toy.MODEL
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(loaded)):
    np.testing.assert_array_equal(a, b)


def test_train_file_must_be_a_finished_dataset(tmp_path):
  c = recipe_config()
  c.sft.train_file = str(tmp_path / shards.DATA_FILE)
  (tmp_path / shards.MANIFEST_FILE).write_text("{}")
  (tmp_path / shards.DATA_FILE).write_text(
      '{"prompt": "1+1\\n", "completion": "<answer>2</answer>", "answer": "2"}\n')
  with pytest.raises(shards.IncompleteDatasetError, match="config.sft.train_file"):
    sft.train_source(c)
  (tmp_path / shards.COMPLETE_FILE).write_text("x\n")
  src = sft.train_source(c)
  assert len(src) == 1 and src[0]["completion"] == "<answer>2</answer>"
