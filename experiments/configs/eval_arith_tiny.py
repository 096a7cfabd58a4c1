"""Test-time scaling of an arithmetic-chain checkpoint: pass@k / maj@k over k, a budget-
forcing sweep over thinking budgets, TIP on/off, overthinking efficiency.

  python experiments/eval_main.py --config=experiments/configs/eval_arith_tiny.py \
      --config.model.init_checkpoint=/tmp/r1jax/sft/model --workdir=/tmp/r1jax/eval

The toy's reasoning is 19 thinking tokens ('<think>' and three 6-character steps); budgets
below that cut it short, so accuracy rises with the budget. `:force` extends thinking to each
budget with "Wait" instead (s1's other direction), which the toy was never trained on.
"""
from r1jax.recipe.defaults import recipe_config


def get_config(arg=None):
  if arg not in (None, "force"):
    raise ValueError(f"eval_arith_tiny: unknown variant {arg!r}; use none or 'force'")
  c = recipe_config()
  c.tokenizer = "char:math"
  c.model.init_checkpoint = ""  # Required: --config.model.init_checkpoint=<workdir>/model.
  c.data.knobs = dict(difficulty="easy", min_ops=3, max_ops=3, digits=1, operators="+-")

  c.test_time.ks = (1, 2, 4, 8, 16)
  c.test_time.temperature = 0.7
  c.test_time.budgets = (1, 7, 13, 19, 25)  # '<think>' + 0, 1, 2, 3, 4 steps of 6 tokens.
  c.test_time.budget_mode = "force" if arg == "force" else "cap"
  c.test_time.wait = "\n"  # The char vocabulary has 'Wait' as 4 tokens; a new line asks for
  #                          one more step in the toy's own idiom.
  c.test_time.answer_prefix = "<answer>"  # After a forced end of thinking, answer at once.
  # The toy has no "Alternatively": its thoughts are the lines of the trace, so TIP here
  # penalises a new line within 7 tokens of the previous one (a step is 6 tokens).
  c.test_time.tip_strings = ("\n",)
  c.test_time.tip_beta = 7
  return c
