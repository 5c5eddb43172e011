"""Training loop: ``train_and_evaluate(config, workdir)``.

One readable function in sections: mesh, data, model and optimizer, the
compiled step, checkpoint/resume, the loop, evaluation. The whole step
(shuffle, augmentation, mask sampling, saliency for alpha, forward, backward,
update) is one ``jax.jit`` over a device mesh; the train split lives on the
devices, and the batch of step ``t`` is a pure function of ``(seed, t)``, so a
resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Optional

from absl import logging
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import ml_collections
import numpy as np
import optax

from mdr import checkpoint as ckpt_lib
from mdr import config as config_lib
from mdr import data as data_lib
from mdr import evaluate
from mdr import metrics as metrics_lib
from mdr import objectives
from mdr import evaluators
from mdr.objectives import mask_training_batch  # pylint: disable=unused-import  (public here too)
from mdr.runtime import make_mesh  # pylint: disable=unused-import  (public here too)
from mdr.runtime import rng_streams
from mdr.runtime import to_global
# Public here too: the state and the loading of trained runs.
from mdr.runs import load_trained  # pylint: disable=unused-import
from mdr.runs import load_trained_config  # pylint: disable=unused-import
from mdr.runs import other_models
from mdr.state import build_model  # pylint: disable=unused-import
from mdr.state import init_state  # pylint: disable=unused-import
from mdr.state import initial_params  # pylint: disable=unused-import
from mdr.state import make_optimizer  # pylint: disable=unused-import
from mdr.state import model_variables
from mdr.state import param_labels  # pylint: disable=unused-import
from mdr.state import random_mask_spec  # pylint: disable=unused-import
from mdr.state import restored_state
from mdr.state import schedule_and_steps
from mdr.state import State
from mdr.state import TRAIN_KEYS  # pylint: disable=unused-import


class NonFiniteError(RuntimeError):
  """Training produced a non-finite loss or gradient."""


ResumeError = ckpt_lib.ResumeError


# ---------------------------------------------------------------------------
# Small pieces (each pure; the step below composes them).
# ---------------------------------------------------------------------------









FLIP_SALT = 0x464C4950  # "FLIP": the alternating-flip halves' stream


def alternating_flip(key, idx, epoch, num_train):
  """Whether each example ``idx`` is mirrored in ``epoch`` (airbench's flip).

  A fixed half of the train split (drawn once from ``key``) is mirrored in
  even epochs and the other half in odd ones, so every image is seen both
  ways in any two consecutive epochs.
  """
  half = jax.random.permutation(jax.random.fold_in(key, FLIP_SALT),
                                num_train) < num_train // 2
  return half[idx] ^ (epoch % 2 == 1)


def augment(key: jax.Array, images: jax.Array, translate: int = 4,
            pad: str = "zero", flip: str = "random",
            flips: Optional[jax.Array] = None) -> jax.Array:
  """Random translation and horizontal flip of a batch ``[B, H, W, C]``.

  Translation: a random ``H x W`` crop of the image padded by ``translate``
  pixels (``pad``: zero or reflect). Flip: ``random`` mirrors each image
  with probability 1/2; ``alternating`` mirrors where ``flips`` (bool
  ``[B]``, from :func:`alternating_flip`) is true; ``none`` never.
  """
  b, h, w, c = images.shape
  k_crop, k_flip = jax.random.split(key)
  if translate:
    t = translate
    padded = jnp.pad(images, ((0, 0), (t, t), (t, t), (0, 0)),
                     mode="constant" if pad == "zero" else "reflect")
    offsets = jax.random.randint(k_crop, (b, 2), 0, 2 * t + 1)
    crop = jax.vmap(lambda x, o: jax.lax.dynamic_slice(x, (o[0], o[1], 0),
                                                       (h, w, c)))
    images = crop(padded, offsets)
  if flip == "none":
    return images
  if flip == "random":
    flips = jax.random.bernoulli(k_flip, 0.5, (b,))
  return jnp.where(flips[:, None, None, None], images[:, :, ::-1], images)


def lookahead(slow, fast, decay):
  """airbench's lookahead: ``slow += (1 - decay) (fast - slow)``; both
  become the new slow weights. Returns ``(slow, fast)``."""
  slow = jax.tree.map(lambda s, f: s + (1 - decay) * (f - s), slow, fast)
  return slow, slow


def lookahead_decay(config, done, total):
  """The EMA decay after step ``done`` of ``total``: ``decay·(done/total)³``."""
  return config.optim.lookahead_decay * (done / total) ** 3


def batch_indices(key, step, steps_per_epoch, num_train, batch):
  """Example indices of step ``step``: a fresh permutation every epoch."""
  perm = jax.random.permutation(jax.random.fold_in(key, step //
                                                   steps_per_epoch), num_train)
  return jax.lax.dynamic_slice_in_dim(perm, (step % steps_per_epoch) * batch,
                                      batch)


# ---------------------------------------------------------------------------
# The compiled step.
# ---------------------------------------------------------------------------

def make_train_step(config, model, tx, sched, streams, steps_per_epoch,
                    num_train, mean, batch_sharding, total_steps=None,
                    num_classes=None, whiten_bias_frozen=False):
  """The step function ``(state, images_u8, labels) -> (state, metrics)``.

  ``num_classes`` (default: the model's ``num_classes``) is needed by
  objectives that mix labels (``m2at``). Parameters the optimizer never
  updates (the ``frozen`` group: airbench's whitening filters) get no
  gradient at all, nor, with ``whiten_bias_frozen`` (the step used once
  ``train.whiten_bias_epochs`` are over), the whitening bias: the backward
  pass then stops before the first layer. Their updates were zero either
  way, so the parameters are the same; ``l2_grads`` counts only gradients
  that are computed.
  """
  tc = config.train
  num_classes = num_classes or getattr(model, "num_classes", None)
  total_steps = total_steps or config.train.steps or 1

  def step_fn(state: State, images_u8, labels_all):
    step = state["step"]
    idx = batch_indices(streams["data"], step, steps_per_epoch, num_train,
                        tc.batch_size)
    images = images_u8[idx].astype(jnp.float32) / 255.0
    labels = labels_all[idx]
    images = jax.lax.with_sharding_constraint(images, batch_sharding)
    labels = jax.lax.with_sharding_constraint(labels, batch_sharding)
    if tc.augment:
      flips = None
      if tc.flip == "alternating":
        flips = alternating_flip(streams["augment"], idx,
                                 step // steps_per_epoch, num_train)
      images = augment(jax.random.fold_in(streams["augment"], step), images,
                       tc.translate, tc.translate_pad, tc.flip, flips)
    variables = model_variables(state)
    others = {k: v for k, v in variables.items() if k != "params"}

    def train_logits(x):  # training mode; batch-statistic updates discarded
      out = model.apply(variables, x, train=True, mutable=list(others))
      return out[0] if isinstance(out, tuple) else out

    # The objective (config.train.mode) makes the batch the loss sees.
    images, targets = objectives.get(tc.mode).prepare(objectives.Context(
        config=config, key=jax.random.fold_in(streams["masks"], step),
        images=images, labels=labels, num_classes=num_classes,
        logits_fn=lambda x: model.apply(variables, x, train=False),
        train_logits_fn=train_logits, mean=mean))

    def loss_fn(params):
      params = no_gradient(params, whiten_bias_frozen)
      # Every non-params collection is passed and may be updated (batch
      # statistics); fixed ones (random masks) come back unchanged.
      logits, new_vars = model.apply({"params": params, **others}, images,
                                     train=True, mutable=list(others))
      soft = (jax.nn.one_hot(targets, logits.shape[-1])
              if targets.ndim == 1 else targets)
      soft = optax.smooth_labels(soft, tc.label_smoothing)
      loss = optax.softmax_cross_entropy(logits, soft).mean()
      return loss, (logits, {k: new_vars[k] for k in others})

    (loss, (logits, new_others)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state["params"])
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    l2_grads = optax.tree.norm(grads)
    # Also the new parameters: a finite gradient times a huge learning rate
    # can still overflow.
    finite = (jnp.isfinite(loss) & jnp.isfinite(l2_grads) &
              jnp.isfinite(optax.tree.norm(params)))
    # A non-finite step changes nothing but the record of the first bad step;
    # the loop stops at its next check and never checkpoints a bad state.
    keep = lambda new, old: jax.tree.map(
        lambda n, o: jnp.where(finite, n, o), new, old)
    new_state = dict(
        step=step + 1,
        params=keep(params, state["params"]),
        opt_state=keep(opt_state, state["opt_state"]),
        bad_step=jnp.where((state["bad_step"] < 0) & ~finite, step,
                           state["bad_step"]),
        **{k: keep(new_others[k], others[k]) for k in others},
    )
    if "lookahead" in state:
      # Every k steps, and at the last step with decay 1 (the weights become
      # the slow copy), as airbench94 does.
      done = step + 1
      every = config.optim.lookahead_every
      sync = done % every == 0
      decay = jnp.where(sync, lookahead_decay(config, done, total_steps), 1.0)
      fast = {k: new_state[k] for k in state["lookahead"]}
      slow, fast = lookahead(state["lookahead"], fast, decay)
      apply = sync | (done == total_steps)
      pick = lambda a, b: jax.tree.map(lambda x, y: jnp.where(apply, x, y),
                                       a, b)
      new_state["lookahead"] = keep(pick(slow, state["lookahead"]),
                                    state["lookahead"])
      for k in fast:
        new_state[k] = keep(pick(fast[k], new_state[k]), state[k])
    metrics = dict(
        loss=loss,
        accuracy=jnp.mean(jnp.argmax(logits, -1) == labels) * 100,
        learning_rate=sched(step),
        l2_grads=l2_grads,
        l2_params=optax.tree.norm(params),
    )
    return new_state, metrics

  return step_fn
















def validate(config) -> None:
  """All of a run's config checks: ``mdr.config.validate`` (the cross-cutting
  fields) and those of the evaluators, each of which checks its own."""
  config_lib.validate(config, jax.device_count())
  evaluators.check_config(config)


# ---------------------------------------------------------------------------
# The loop.
# ---------------------------------------------------------------------------

class _Preempted:
  """Records SIGTERM (how preemption notices arrive) for the loop to act on."""

  def __init__(self):
    self.flag = False
    self._old = None

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      self._old = signal.signal(signal.SIGTERM, self._handle)
    return self

  def _handle(self, signum, frame):  # pylint: disable=unused-argument
    logging.warning("SIGTERM received: saving a checkpoint and exiting")
    self.flag = True

  def agreed(self, at_log: bool) -> bool:
    """Whether all processes stop after this step.

    One process: as soon as its flag is set. Several: the flags are combined
    at log steps only, so every process stops (and saves) at the same step.
    """
    if jax.process_count() == 1:
      return self.flag
    if not at_log:
      return False
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    flags = multihost_utils.process_allgather(np.asarray(self.flag))
    return bool(np.any(flags))

  def __exit__(self, *exc):
    if self._old is not None:
      signal.signal(signal.SIGTERM, self._old)


def no_gradient(params, whiten_bias_frozen: bool):
  """``params`` with ``stop_gradient`` on those that get no update: the
  ``frozen`` group always, the ``whiten_bias`` group once frozen."""
  groups = param_labels(params)
  stopped = {"frozen", "whiten_bias"} if whiten_bias_frozen else {"frozen"}
  return jax.tree.map(
      lambda g, p: jax.lax.stop_gradient(p) if g in stopped else p,
      groups, params)


def whiten_bias_until(config, steps_per_epoch: int) -> int:
  """The first step at which the whitening bias is no longer trained (the
  ``whiten_bias`` group's schedule in ``mdr.state``)."""
  return int(round(config.train.whiten_bias_epochs * steps_per_epoch))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       dataset: Optional[data_lib.Dataset] = None) -> dict:
  """Trains (resuming from ``workdir`` if it holds a run), then evaluates.

  Returns the final training metrics and the path of the eval files.
  """
  # --- Config, workdir, mesh.
  mesh = make_mesh()
  validate(config)
  ckpt_lib.check_config(workdir, config)
  replicated = NamedSharding(mesh, P())
  batch_sharding = NamedSharding(mesh, P("data"))
  streams = rng_streams(config.seed)

  # --- Data: the train split lives on the devices as uint8.
  dataset = dataset or data_lib.load(config.data)
  num_train = len(dataset.train.labels)
  total_steps, steps_per_epoch, sched = schedule_and_steps(config, num_train)
  ckpt_lib.write_config(workdir, config)  # only once config and data are good
  images_u8 = to_global(dataset.train.images, replicated)
  labels_all = to_global(dataset.train.labels.astype(np.int32), replicated)

  # --- Model, optimizer, state: resumed from the latest good checkpoint.
  model, tx, manager, state = restored_state(config, workdir, dataset, sched,
                                             replicated, steps_per_epoch)
  start = int(jax.device_get(state["step"]))
  logging.info("%s: %d train images, %d steps/epoch, %d steps (%s from step "
               "%d), %d device(s)", config.model.name, num_train,
               steps_per_epoch, total_steps,
               "resuming" if start else "starting", start, jax.device_count())

  # --- The compiled step.
  # A second compiled step, without the whitening bias's gradient, takes over
  # once that bias is frozen (compiled when first needed).
  def compile_step(whiten_bias_frozen):
    step_fn = make_train_step(config, model, tx, sched, streams,
                              steps_per_epoch, num_train,
                              jnp.asarray(dataset.mean), batch_sharding,
                              total_steps, dataset.num_classes,
                              whiten_bias_frozen)
    return jax.jit(step_fn, in_shardings=(replicated, replicated,
                                          replicated),
                   out_shardings=(replicated, replicated),
                   donate_argnums=(0,))
  has_bias = "whiten_bias" in jax.tree.leaves(param_labels(state["params"]))
  freeze_at = (whiten_bias_until(config, steps_per_epoch) if has_bias
               else total_steps)
  steps = {False: compile_step(False)}

  # --- Loop.
  writer = metrics_lib.MetricWriter(workdir, resume_step=start)
  progress = metrics_lib.Progress(total_steps, start)
  pending = []
  last = {}
  t0 = time.perf_counter()
  with _Preempted() as preempted:
    for step in range(start, total_steps):
      frozen = step >= freeze_at
      if frozen not in steps:
        steps[frozen] = compile_step(frozen)
      state, metrics = steps[frozen](state, images_u8, labels_all)
      pending.append(metrics)
      done = step + 1
      at_log = done % config.log_every_steps == 0 or done == total_steps
      stop = preempted.agreed(at_log)
      at_ckpt = done % config.checkpoint_every_steps == 0 or \
          done == total_steps or stop
      if at_log or at_ckpt:
        bad = int(jax.device_get(state["bad_step"]))
        if bad >= 0:
          manager.wait_until_finished()
          raise NonFiniteError(
              f"non-finite loss or gradient at step {bad} (learning rate "
              f"{float(sched(bad)):.3g}); the last good checkpoint is step "
              f"{manager.latest_step()} in {workdir}/checkpoints. Lower "
              f"config.optim.learning_rate or check the data.")
      if at_log:
        host = jax.device_get(pending)
        last = {k: float(np.mean([m[k] for m in host])) for k in host[0]}
        pending = []
        writer.write(done, last)
        progress.report(done, {k: last[k] for k in ("loss", "accuracy")})
      if at_ckpt:
        ckpt_lib.save(manager, done, state)
      if stop:
        manager.wait_until_finished()
        writer.close()
        logging.warning("stopped at step %d after SIGTERM; rerun the same "
                        "command to resume", done)
        return dict(preempted=True, step=done, **last)
  manager.wait_until_finished()
  writer.close()
  train_seconds = time.perf_counter() - t0

  # --- Evaluation.
  variables = model_variables(state)
  eval_dir = evaluate.evaluate(config, workdir, model, variables, dataset,
                               mesh, others=other_models(config, dataset, mesh))
  return dict(step=total_steps, train_seconds=train_seconds,
              eval_dir=eval_dir, **last)


def evaluate_stored(config: ml_collections.ConfigDict, workdir: str,
                    weights_path: str,
                    dataset: Optional[data_lib.Dataset] = None) -> dict:
  """Evaluates the stored weights ``weights_path`` (``mdr.weights``) with
  ``config``'s evaluation into ``workdir/eval`` (``--mode=eval --weights``):
  no checkpoint and no training. The stored model must be the config's (same
  name, width, random masks, input encoding); the data is the config's."""
  from mdr import weights as weights_lib  # pylint: disable=g-import-not-at-top
  mesh = make_mesh()
  validate(config)
  stored = weights_lib.load(weights_path)
  for field, default in (("name", None), ("width", None),
                         ("random_mask", None), ("encoding", "rgb")):
    a = stored.config.model.get(field, default)
    b = config.model.get(field, default)
    a = a.to_dict() if hasattr(a, "to_dict") else a
    b = b.to_dict() if hasattr(b, "to_dict") else b
    if a != b:
      raise config_lib.ConfigError(
          f"config.model.{field} = {b!r} is not the stored model's {a!r} "
          f"({weights_path}): evaluate it with the config it was trained "
          f"with")
  dataset = dataset or data_lib.load(config.data)
  os.makedirs(workdir, exist_ok=True)
  variables = jax.device_put(stored.variables, NamedSharding(mesh, P()))
  return dict(weights=weights_path, sha256=stored.sha256,
              eval_dir=evaluate.evaluate(
                  config, workdir, stored.model, variables, dataset, mesh,
                  others=other_models(config, dataset, mesh)))


def evaluate_only(config: ml_collections.ConfigDict, workdir: str,
                  dataset: Optional[data_lib.Dataset] = None) -> dict:
  """Evaluates the latest checkpoint in ``workdir`` (``--mode=eval``)."""
  mesh = make_mesh()
  validate(config)
  ckpt_lib.check_config(workdir, config)
  if not ckpt_lib.has_checkpoints(workdir):
    raise ResumeError(f"no checkpoint in {workdir}/checkpoints to evaluate: "
                      f"train first (--mode=train)")
  dataset = dataset or data_lib.load(config.data)
  total_steps, _, sched = schedule_and_steps(config,
                                             len(dataset.train.labels))
  model, _, _, state = restored_state(config, workdir, dataset, sched,
                                      NamedSharding(mesh, P()))
  step = int(jax.device_get(state["step"]))
  if step < total_steps:
    logging.warning("evaluating step %d of %d (training is not finished)",
                    step, total_steps)
  variables = model_variables(state)
  return dict(step=step, eval_dir=evaluate.evaluate(
      config, workdir, model, variables, dataset, mesh,
      others=other_models(config, dataset, mesh)))










