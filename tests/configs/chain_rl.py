"""experiments/configs/arith_tiny.py plus a custom reward by import path that checks what the
grader sees: nothing after the first '</answer>' (tests/chain_e2e_test.py; needs tests/ on
PYTHONPATH for custom_reward_fns). With an arg, the data are a user's JSONL files in that
folder ({split}.jsonl: question, answer, completion), read through data.source 'file:'.

  PYTHONPATH=tests python experiments/grpo_main.py --config=tests/configs/chain_rl.py:<dir> \
      --config.tokenizer=<bpe folder> --workdir=/tmp/x
"""
import importlib.util
import pathlib

_ARITH = pathlib.Path(__file__).resolve().parents[2] / "experiments" / "configs" / "arith_tiny.py"


def get_config(arg=None):
  spec = importlib.util.spec_from_file_location("arith_tiny", _ARITH)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config()
  c.rewards.custom = {"custom_reward_fns:ends_at_stop": 0.1, "custom_reward_fns:has_stop": 0.01}
  if arg:
    c.data.source = "file:{split}.jsonl"
    c.data.data_dir = arg
    c.data.knobs = {}
    c.data.fields.completion = "completion"
  return c
