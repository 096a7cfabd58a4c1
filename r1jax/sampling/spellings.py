"""How a tokenizer spells a delimiter in context: the id sequences the sampler watches for.

A byte-level BPE tokenizer (Qwen2.5) writes '</think>' as '</' 'think' '>' on its own, but as
'.</' 'think' '>' after a full stop, '}</' ... after a brace, ' </' ... after a space: the first
token absorbs the preceding character. `spellings` returns the standalone tokenisation first
(what forcing appends) and then each distinct in-context one, as the suffix of the context's
tokenisation that starts with the token covering the delimiter's first character. Matching any
of them on device catches the delimiter in the contexts listed; text-level stop strings are
still cut exactly on the host (stop_text.py).
"""
from __future__ import annotations

CONTEXTS = (" ", ".", "}", ")", ",", "\n", ":", "!", "?", "a", "1", "$")


def spellings(tokenizer, text: str, contexts=CONTEXTS) -> tuple[tuple[int, ...], ...]:
  """(standalone ids, in-context variants...) of `text`; a special token is one id only."""
  if not text:
    raise ValueError("spellings: empty text")
  special = tokenizer.token_to_id(text)
  standalone = tuple(tokenizer.encode(text))
  if special is not None and standalone == (special,):
    return ((int(special),),)  # Special tokens are matched whole in any context.
  out = [tuple(int(i) for i in standalone)]
  for ctx in contexts:
    try:
      ids, offsets = tokenizer.encode_with_offsets(ctx + text)
    except ValueError:  # A context character outside a small vocabulary (char tokenizers).
      continue
    start = len(ctx)
    # The first token whose span reaches into the delimiter (it may carry context characters).
    first = next((k for k, (_, end) in enumerate(offsets) if end > start), None)
    if first is None:
      continue
    seq = tuple(int(i) for i in ids[first:])
    if tokenizer.decode(list(seq)).endswith(text) and seq not in out:
      out.append(seq)
  return tuple(out)


def first_tokens(seqs) -> tuple[int, ...]:
  """The distinct first ids of `seqs`, in order."""
  return tuple(dict.fromkeys(s[0] for s in seqs))
