"""RL and SFT pipelines: layout, epochs, skipping, per-host shards, mixtures, exact resume."""
import collections
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from r1jax.data import (ExampleList, Mixture, RLPromptPipeline, SFTPipeline, SyntheticSource,
                        first_examples, get_source)
from r1jax.data.pipeline import reshard_states
from r1jax.tokenizers import char_tokenizer_for_math

REPO = pathlib.Path(__file__).resolve().parents[1]
TOK = char_tokenizer_for_math()


def arith(n, split="train", **knobs):
  return SyntheticSource("arith", split, "plain", num_examples=n, **knobs)


def resume_pipelines():
  """A mixture that wraps epochs and skips long prompts, read by process 1 of 2 (RL), and a
  packed SFT pipeline; also run in a fresh process by test_resume_in_new_process."""
  mix = get_source("mixture", None, "train", "plain",
                   components=[("arith", 2, {"num_examples": 13}),
                               ("countdown", 1, {"difficulty": "easy", "num_examples": 9})])
  rl = RLPromptPipeline(mix, batch_size=4, tokenizer=TOK, max_prompt_len=47, seed=5,
                        process_index=1, process_count=2)
  sft = SFTPipeline(mix, batch_size=3, tokenizer=TOK, max_len=96, seed=6, pack=True)
  return rl, sft


def read_batches(rl, sft, n) -> dict[str, np.ndarray]:
  out = collections.defaultdict(list)
  for _ in range(n):
    b = rl.next()
    out["rl_tokens"].append(b.prompt_tokens_BxP)
    out["rl_mask"].append(b.prompt_mask_BxP)
    out["rl_ids"].append([ex["id"] for ex in b.examples])
    s = sft.next()
    for key in ("tokens_BxT", "loss_mask_BxT", "segment_ids_BxT", "positions_BxT"):
      out[f"sft_{key}"].append(getattr(s, key))
  return {k: np.asarray(v) for k, v in out.items()}


RESUME_SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, "tests")
import data_pipeline_test as t
rl, sft = t.resume_pipelines()
states = json.load(open(sys.argv[1]))
rl.restore(states["rl"])
sft.restore(states["sft"])
np.savez(sys.argv[2], **t.read_batches(rl, sft, 4))
assert "tensorflow" not in sys.modules and "seqio" not in sys.modules, "TF imported"
"""


def test_resume_in_new_process(tmp_path):
  straight = read_batches(*resume_pipelines(), 7)
  rl, sft = resume_pipelines()
  read_batches(rl, sft, 3)
  state_path, out_path = tmp_path / "state.json", tmp_path / "batches.npz"
  state_path.write_text(json.dumps({"rl": rl.state(), "sft": sft.state()}))
  env = {**os.environ, "PYTHONPATH": str(REPO)}
  subprocess.run([sys.executable, "-c", RESUME_SCRIPT, str(state_path), str(out_path)],
                 cwd=REPO, env=env, check=True, timeout=120)
  resumed = np.load(out_path)
  assert sorted(resumed.files) == sorted(straight)
  for key in straight:
    np.testing.assert_array_equal(resumed[key], straight[key][3:], err_msg=key)
  rl_after, sft_after = resume_pipelines()
  read_batches(rl_after, sft_after, 7)
  assert rl_after.num_skipped > 0  # The skip path is part of what resumed exactly.
  # And an epoch boundary: process 1 of 2 reads blocks of 2 (positions 2-3, 6-7, 10-11,
  # 14-15, ...), so 7 reads of the 13-example arith component reach into its 2nd epoch.
  assert rl_after.state()["stream"]["components"][0]["reads"] >= 7


def test_rl_batch_layout():
  source = get_source("countdown", None, "test", "plain", num_examples=20)
  pipe = RLPromptPipeline(source, batch_size=4, tokenizer=TOK, max_prompt_len=64, seed=0)
  batch = pipe.next()
  assert batch.prompt_tokens_BxP.dtype == np.int32 and batch.prompt_mask_BxP.dtype == bool
  assert batch.prompt_tokens_BxP.shape == batch.prompt_mask_BxP.shape == (4, 64)
  for row, ex in enumerate(batch.examples):
    ids = TOK.encode(ex["prompt"])
    want = [TOK.pad_id] * (64 - len(ids)) + ids
    assert batch.prompt_tokens_BxP[row].tolist() == want
    assert batch.prompt_mask_BxP[row].tolist() == [False] * (64 - len(ids)) + [True] * len(ids)
    assert {"answer", "task", "id", "numbers", "target"} <= set(ex)
  json.dumps(pipe.state())


def test_add_bos():
  rl = RLPromptPipeline(arith(4), 2, TOK, 16, seed=0, shuffle=False, add_bos=True).next()
  sft = SFTPipeline(arith(4), 2, TOK, 64, seed=0, shuffle=False, add_bos=True).next()
  for row in range(2):
    n = int(rl.prompt_mask_BxP[row].sum())
    assert rl.prompt_tokens_BxP[row, -n:].tolist() == [TOK.bos_id] + TOK.encode(
        rl.examples[row]["prompt"])
    assert sft.tokens_BxT[row, 0] == TOK.bos_id and sft.loss_mask_BxT[row, 0] == 0


def test_epochs_are_permutations_reshuffled_by_epoch():
  pipe = RLPromptPipeline(arith(12), 4, TOK, 32, seed=1)
  epochs = [[ex["id"] for _ in range(3) for ex in pipe.next().examples] for _ in range(2)]
  everything = [ex["id"] for ex in first_examples(arith(12))]
  assert sorted(epochs[0]) == sorted(epochs[1]) == sorted(everything)
  assert epochs[0] != epochs[1] and epochs[0] != everything
  ordered = RLPromptPipeline(arith(12), 4, TOK, 32, seed=1, shuffle=False)
  assert [ex["id"] for _ in range(3) for ex in ordered.next().examples] == everything


def test_long_prompts_are_skipped_and_counted():
  source = arith(40)
  limit = 10
  pipe = RLPromptPipeline(source, 5, TOK, limit, seed=0, shuffle=False)
  seen = [ex["id"] for _ in range(4) for ex in pipe.next().examples]
  examples = first_examples(source)
  fitting = [i for i, ex in enumerate(examples) if len(TOK.encode(ex["prompt"])) <= limit]
  assert seen == [examples[i]["id"] for i in fitting[:20]]
  # Skipped: the long ones before the 20th fitting example (later ones are not read yet).
  assert pipe.num_skipped == fitting[19] + 1 - 20 > 0
  with pytest.raises(ValueError, match="whole epoch"):
    RLPromptPipeline(source, 2, TOK, 3, seed=0).next()


@pytest.mark.parametrize("size", [32, 37])  # Whole epochs of batches, and a ragged end.
def test_per_host_shards_concatenate_to_the_single_host_batch(size):
  source = arith(size)
  single = RLPromptPipeline(source, 8, TOK, 32, seed=7)
  hosts = [RLPromptPipeline(source, 8, TOK, 32, seed=7, process_index=p, process_count=4)
           for p in range(4)]
  for _ in range(4):  # One epoch of 32.
    full = [ex["id"] for ex in single.next().examples]
    local = [[ex["id"] for ex in h.next().examples] for h in hosts]
    assert all(len(ids) == 2 for ids in local)
    assert sum(local, []) == full  # Process p holds rows [2p, 2p + 2) of the global batch.
  with pytest.raises(ValueError, match="multiple of process_count"):
    RLPromptPipeline(source, 6, TOK, 32, seed=7, process_index=0, process_count=4)


def test_mixture_rates_and_component_cycling():
  small = ExampleList("small", first_examples(arith(10)))
  big = SyntheticSource("countdown", "train", "plain", difficulty="easy")
  pipe = RLPromptPipeline(Mixture((small, big), (1.0, 3.0)), 8, TOK, 64, seed=2)
  tasks = [ex for _ in range(100) for ex in pipe.next().examples]
  counts = collections.Counter(ex["task"] for ex in tasks)
  # 800 draws at p=0.75: sd ~12.2; 4 sd tolerance.
  assert abs(counts["countdown"] - 600) < 50
  small_ids = [ex["id"] for ex in tasks if ex["task"] == "arith"]
  for start in range(0, len(small_ids) - 10, 10):  # Each pass covers all 10 once.
    assert len(set(small_ids[start:start + 10])) == 10
  with pytest.raises(TypeError, match="components of a mixture"):
    first_examples(Mixture((small,), (1.0,)))


def sft_reference(ex):
  prompt = TOK.encode(ex["prompt"])
  completion = TOK.encode(ex["completion"]) + [TOK.eos_id]
  return prompt + completion, [0.0] * len(prompt) + [1.0] * len(completion)


def test_sft_padded_rows():
  source = get_source("countdown", None, "train", "plain", num_examples=30)
  pipe = SFTPipeline(source, 3, TOK, 128, seed=0, shuffle=False)
  for step in range(2):
    batch = pipe.next()
    assert batch.tokens_BxT.dtype == np.int32 and batch.loss_mask_BxT.dtype == np.float32
    assert batch.segment_ids_BxT.dtype == np.int32 and batch.positions_BxT.dtype == np.int32
    for row in range(3):
      ids, mask = sft_reference(source[3 * step + row])
      pad = 128 - len(ids)
      assert batch.tokens_BxT[row].tolist() == ids + [TOK.pad_id] * pad
      assert batch.loss_mask_BxT[row].tolist() == mask + [0.0] * pad
      assert batch.segment_ids_BxT[row].tolist() == [1] * len(ids) + [0] * pad
      assert batch.positions_BxT[row].tolist() == list(range(len(ids))) + [0] * pad
      assert TOK.decode(batch.tokens_BxT[row]).endswith("</answer>")


def test_sft_packing_keeps_stream_order_and_next_fit():
  source = arith(50, min_ops=1, max_ops=4)
  limit = 64
  refs = [sft_reference(ex) for ex in first_examples(source)]
  fitting = [i for i, (ids, _) in enumerate(refs) if len(ids) <= limit]
  packed = SFTPipeline(source, 4, TOK, limit, seed=0, pack=True, shuffle=False)
  segments = []
  for _ in range(2):
    batch = packed.next()
    for row in range(4):
      seg = batch.segment_ids_BxT[row]
      used = int((seg > 0).sum())
      assert (seg[:used] > 0).all()  # Segments first, padding after.
      for s in range(1, seg.max() + 1):
        positions = batch.positions_BxT[row][seg == s].tolist()
        assert positions == list(range(len(positions)))
        segments.append((batch.tokens_BxT[row][seg == s].tolist(),
                         batch.loss_mask_BxT[row][seg == s].tolist()))
      # Next-fit: the example that starts the next row did not fit in this one.
      assert used + len(refs[fitting[len(segments)]][0]) > limit
  assert segments == [refs[i] for i in fitting[:len(segments)]]
  assert len(segments) > 8  # Some rows hold more than one example.
  # Skipped: the long ones before the pending (next fitting) example.
  assert packed.num_skipped == fitting[len(segments)] - len(segments) > 0


def test_sft_needs_a_completion_and_restore_checks_identity():
  source = ExampleList("bench", [{"prompt": "1+1\n", "answer": "2", "id": "b/0", "task": "b"}])
  with pytest.raises(ValueError, match="'b/0' of task 'b' has no 'completion'"):
    SFTPipeline(source, 1, TOK, 32, seed=0).next()
  pipe = SFTPipeline(arith(8), 2, TOK, 64, seed=0)
  state = pipe.state()
  with pytest.raises(ValueError, match="seed=0.*has 1"):
    SFTPipeline(arith(8), 2, TOK, 64, seed=1).restore(state)
  with pytest.raises(ValueError, match="pack"):
    SFTPipeline(arith(8), 2, TOK, 64, seed=0, pack=True).restore(state)


@pytest.mark.parametrize("before,after", [(2, 1), (1, 4), (4, 2)])
def test_states_reshard_to_another_process_count(before, after):
  source = arith(23)  # Not a multiple of the batch: resuming crosses a ragged epoch end.
  make = lambda p, n: RLPromptPipeline(source, 8, TOK, 32, seed=3, process_index=p,
                                       process_count=n)
  single = make(0, 1)
  expected = [[ex["id"] for ex in single.next().examples] for _ in range(5)]
  old = [make(p, before) for p in range(before)]
  for _ in range(2):
    for h in old:
      h.next()
  states = reshard_states([h.state() for h in old], after)
  new = [make(p, after) for p in range(after)]
  for h, st in zip(new, states):
    h.restore(st)
  for k in range(2, 5):  # Batches 3-5 cross the end of the 23-example epoch.
    got = sum(([ex["id"] for ex in h.next().examples] for h in new), [])
    assert got == expected[k], k


def test_reshard_refuses_what_it_cannot_map():
  source = arith(40)
  hosts = [RLPromptPipeline(source, 4, TOK, 32, seed=3, process_index=p, process_count=2)
           for p in range(2)]
  hosts[0].next()  # Only process 0 advanced: the positions differ.
  with pytest.raises(ValueError, match="differ"):
    reshard_states([h.state() for h in hosts], 1)
  with pytest.raises(ValueError, match="process 1 of 2"):
    reshard_states([hosts[1].state(), hosts[0].state()], 1)
  mix = get_source("mixture", None, "train", "plain",
                   components=[("arith", 2, {"num_examples": 13}),
                               ("countdown", 1, {"difficulty": "easy", "num_examples": 9})])
  readers = [RLPromptPipeline(mix, 4, TOK, 47, seed=5, process_index=p, process_count=2)
             for p in range(2)]
  states = [r.state() for r in readers]
  with pytest.raises(ValueError, match="mixture"):
    reshard_states(states, 1)
  assert reshard_states(states, 2) == states
