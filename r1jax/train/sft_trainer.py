"""Supervised fine-tuning: cold start, distillation from traces, warm-starting toy models.

Shape legend: B batch, T sequence length, V vocab.
`sft_step` is a pure module-level function jitted at the call site with shardings and
donation; `train_sft` is the host loop (also used as the RL demo's warm start and by expert
iteration).
"""
from __future__ import annotations

import contextlib
import functools
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from r1jax import distributed, sharding
from r1jax.models.transformer import ModelConfig, Transformer
from r1jax.train.state import TrainState


def token_nll(params, model_config: ModelConfig, tokens_BxT, loss_mask_BxT, segment_ids_BxT,
              positions_BxT, single_segment: bool = False):
  """Sum of next-token NLL over masked targets, and the number of target tokens.

  loss_mask_BxT marks target tokens (completion, incl. eos); token t is predicted from <t.
  single_segment: rows hold one example each (no packing), which lets the fused attention
  kernels use a plain causal mask.
  """
  logits_BxTxV = Transformer(model_config).apply(
      {"params": params}, tokens_BxT, positions_BxT, segment_ids_BxT,
      single_segment=single_segment)
  logp_BxTxV = jax.nn.log_softmax(logits_BxTxV[:, :-1])
  tgt_logp_BxT = jnp.take_along_axis(logp_BxTxV, tokens_BxT[:, 1:, None], -1)[..., 0]
  mask = loss_mask_BxT[:, 1:].astype(jnp.float32)
  correct = (jnp.argmax(logits_BxTxV[:, :-1], -1) == tokens_BxT[:, 1:]) * mask
  return -jnp.sum(tgt_logp_BxT * mask), jnp.sum(mask), jnp.sum(correct)


def sft_step(state: TrainState, batch: dict, rng, *, model_config: ModelConfig,
             optimizer: optax.GradientTransformation, single_segment: bool = False):
  """One optimizer step on a batch (token-mean loss over the whole batch)."""
  del rng  # Deterministic: no dropout in the model.

  def loss_fn(params):
    nll, n, correct = token_nll(params, model_config, batch["tokens"], batch["loss_mask"],
                                batch["segment_ids"], batch["positions"], single_segment)
    n = jnp.maximum(n, 1.0)
    return nll / n, (n, correct / n)

  (loss, (n_tokens, acc)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  metrics = {"sft/loss": loss, "sft/token_acc": acc, "sft/tokens": n_tokens,
             "sft/grad_norm": optax.global_norm(grads)}
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def batch_to_device(b, mesh) -> dict:
  """SFTBatch (numpy, this process's rows) -> dict of global arrays sharded over the data axes."""
  arrays = {"tokens": b.tokens_BxT, "loss_mask": b.loss_mask_BxT,
            "segment_ids": b.segment_ids_BxT, "positions": b.positions_BxT}
  if mesh is None:
    return {k: jnp.asarray(v) for k, v in arrays.items()}
  return {k: distributed.global_rows(v, sharding.batch_sharding(mesh, v.ndim))
          for k, v in arrays.items()}


def make_sft_step(model_config, optimizer, mesh=None, state_shardings=None,
                  single_segment: bool = False):
  """Jits `sft_step` once, with shardings and donation of the state."""
  fn = functools.partial(sft_step, model_config=model_config, optimizer=optimizer,
                         single_segment=single_segment)
  if mesh is None:
    return jax.jit(fn, donate_argnums=0)
  return jax.jit(fn, donate_argnums=0, in_shardings=(state_shardings, None, None),
                 out_shardings=(state_shardings, None))


def train_sft(state: TrainState, pipeline, num_steps: int, model_config, optimizer, *,
              mesh=None, state_shardings=None, log_every: int = 50,
              log_fn: Callable[[int, dict], Any] | None = None, step_fn=None) -> TrainState:
  """Runs `num_steps` SFT steps from `pipeline` (an SFTPipeline) and returns the new state.

  `step_fn`: a `make_sft_step` result to reuse; a caller that trains in chunks (between
  checkpoints) passes one, since a fresh jit per call compiles the step again.
  """
  if step_fn is None:
    step_fn = make_sft_step(model_config, optimizer, mesh, state_shardings,
                            single_segment=not getattr(pipeline, "pack", True))
  t0 = time.time()
  for i in range(num_steps):
    batch = batch_to_device(pipeline.next(), mesh)
    ctx = sharding.activation_sharding(mesh) if mesh is not None else contextlib.nullcontext()
    with ctx:
      state, metrics = step_fn(state, batch, None)
    if log_fn is not None and ((i + 1) % log_every == 0 or i + 1 == num_steps):
      m = {k: float(v) for k, v in distributed.fetch(metrics).items()}
      if not np.isfinite(m["sft/loss"]):
        raise FloatingPointError(f"SFT loss is {m['sft/loss']} at SFT step {i + 1}")
      m["sft/steps_per_sec"] = (i + 1) / max(time.time() - t0, 1e-9)
      log_fn(i + 1, m)
  return state
