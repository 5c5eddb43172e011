"""Training loop: ``train_and_evaluate(config, workdir)``.

One readable function in sections: mesh, data, model and optimizer, the
compiled step, checkpoint/resume, the loop, evaluation. The whole step
(shuffle, augmentation, mask sampling, saliency for alpha, forward, backward,
update) is one ``jax.jit`` over a device mesh; the train split lives on the
devices, and the batch of step ``t`` is a pure function of ``(seed, t)``, so a
resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import functools
import json
import math
import os
import signal
import threading
import time
from typing import Any, Optional

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
from mdr import models
from mdr import objectives
from mdr.objectives import mask_training_batch  # pylint: disable=unused-import  (public here too)
from mdr.runtime import make_mesh  # pylint: disable=unused-import  (public here too)
from mdr.runtime import rng_streams
from mdr.runtime import to_global

State = dict[str, Any]


class NonFiniteError(RuntimeError):
  """Training produced a non-finite loss or gradient."""


ResumeError = ckpt_lib.ResumeError


# ---------------------------------------------------------------------------
# Small pieces (each pure; the step below composes them).
# ---------------------------------------------------------------------------

def schedule_and_steps(config, num_train: int):
  """(total_steps, steps_per_epoch, learning-rate schedule)."""
  batch = config.train.batch_size
  steps_per_epoch = num_train // batch
  if steps_per_epoch == 0:
    raise config_lib.ConfigError(
        f"config.train.batch_size = {batch} is larger than the train split "
        f"({num_train} images): use a batch of at most {num_train}")
  total = config.train.steps or max(
      1, math.ceil(config.train.epochs * steps_per_epoch))
  warmup = min(int(config.optim.warmup_epochs * steps_per_epoch), total - 1)
  peak = config.optim.learning_rate
  o = config.optim
  if o.schedule == "linear":
    # Linear from lr_start_factor * peak to the peak over the warmup, then
    # linear to lr_end_factor * peak at the last step (airbench's schedule).
    sched = optax.join_schedules(
        [optax.linear_schedule(o.lr_start_factor * peak, peak, max(warmup, 1)),
         optax.linear_schedule(peak, o.lr_end_factor * peak,
                               max(total - warmup, 1))], [max(warmup, 1)])
    return total, steps_per_epoch, sched
  if o.lr_start_factor and warmup > 0:
    raise config_lib.ConfigError(
        f"config.optim.lr_start_factor = {o.lr_start_factor} is only used by "
        f"the 'linear' schedule: set it to 0 or use schedule='linear'")
  if config.optim.schedule == "cosine" and warmup > 0:
    sched = optax.warmup_cosine_decay_schedule(0.0, peak, warmup, total,
                                               end_value=0.0)
  elif config.optim.schedule == "cosine":
    sched = optax.cosine_decay_schedule(peak, total)
  elif warmup > 0:
    sched = optax.join_schedules(
        [optax.linear_schedule(0.0, peak, warmup),
         optax.constant_schedule(peak)], [warmup])
  else:
    sched = optax.constant_schedule(peak)
  return total, steps_per_epoch, sched


def param_labels(params) -> Any:
  """The optimizer group of each parameter, from its path.

  ``frozen`` (never updated: the whitening filters ``whiten/kernel``),
  ``whiten_bias`` (trained for ``train.whiten_bias_epochs``), ``norm_bias``
  (batch-norm biases: learning rate times ``optim.bias_lr_scale``) or
  ``other``.
  """
  def label(path, _):
    names = [str(getattr(k, "key", k)) for k in path]
    if names[0] == "whiten":
      return "frozen" if names[-1] == "kernel" else "whiten_bias"
    if names[-1] == "bias" and any("norm" in n.lower() for n in names[:-1]):
      return "norm_bias"
    return "other"
  return jax.tree_util.tree_map_with_path(label, params)


def make_optimizer(config, sched, params,
                   steps_per_epoch: int = 1) -> optax.GradientTransformation:
  """SGD (Nesterov) or AdamW, with per-group learning rates and decay.

  Weight decay is coupled (added to the gradient) on conv/dense kernels, or
  on every trained parameter with ``optim.weight_decay_on = "all"``.
  Batch-norm biases get ``bias_lr_scale`` times the learning rate and
  ``1/bias_lr_scale`` times the weight decay (the decay per step is
  unchanged). Frozen parameters get no update at all. ``params`` (or their
  shapes) give the groups, so the optimizer state has the structure that
  checkpoints of the same model hold.
  """
  o = config.optim
  labels = param_labels(params)
  decays = jax.tree.map(
      lambda p: o.weight_decay_on == "all" or p.ndim > 1, params)
  groups = jax.tree.map(lambda l, d: f"{l}:{int(d)}", labels, decays)
  names = sorted(set(jax.tree.leaves(groups)))
  return optax.partition(
      {g: _group_optimizer(config, sched, g.split(":")[0],
                           g.endswith(":1"), steps_per_epoch) for g in names},
      groups)


def _group_optimizer(config, sched, group, decay, steps_per_epoch):
  o = config.optim
  if group == "frozen":
    return optax.set_to_zero()
  scale = o.bias_lr_scale if group == "norm_bias" else 1.0
  wd = o.weight_decay / scale if decay else 0.0
  if o.name == "sgd":
    lr = sched if scale == 1.0 else (lambda t: sched(t) * scale)
    parts = [optax.add_decayed_weights(wd)] if wd else []
    parts.append(optax.sgd(lr, momentum=o.momentum, nesterov=True))
  else:
    parts = [optax.adamw(sched, b1=o.momentum, weight_decay=wd)]
  if group == "whiten_bias":
    until = int(round(config.train.whiten_bias_epochs * steps_per_epoch))
    parts.append(optax.scale_by_schedule(
        lambda count: jnp.where(count < until, 1.0, 0.0)))
  return optax.chain(*parts) if len(parts) > 1 else parts[0]


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
                    num_classes=None):
  """The step function ``(state, images_u8, labels) -> (state, metrics)``.

  ``num_classes`` (default: the model's ``num_classes``) is needed by
  objectives that mix labels (``m2at``).
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


# Keys of the train state that are not model collections.
TRAIN_KEYS = ("step", "params", "opt_state", "bad_step", "lookahead")


def model_variables(state: State) -> dict:
  """The model's variables in ``state``: ``params`` and every other
  collection the model has (``batch_stats``, random masks, or none)."""
  return {"params": state["params"],
          **{k: v for k, v in state.items() if k not in TRAIN_KEYS}}


def init_state(model, tx, key, image_shape, lookahead_on=False,
               params=None) -> State:
  """Step 0: the model's collections at top level beside the optimizer's.

  Each non-``params`` collection the model creates (``batch_stats``,
  ``random_masks``, ...) is a key of the state, so checkpoints save and
  restore it with everything else; lookahead keeps a slow copy of all of
  them.
  """
  variables = dict(model.init(key, jnp.zeros((1,) + tuple(image_shape)),
                              train=False))
  if params is not None:
    variables["params"] = params
  params = variables["params"]
  clash = sorted(set(variables) & set(TRAIN_KEYS) - {"params"})
  if clash:
    raise ValueError(f"model collections {clash} clash with the train "
                     f"state's own keys {TRAIN_KEYS}: rename them")
  state = dict(step=jnp.int32(0), opt_state=tx.init(params),
               bad_step=jnp.int32(-1), **variables)
  if lookahead_on:
    state["lookahead"] = variables
  return state


def random_mask_spec(config) -> models.RandomMaskSpec:
  """``config.model.random_mask`` as the models' spec (seed = config.seed)."""
  r = config.model.random_mask
  return models.RandomMaskSpec(drop=float(r.drop), stages=str(r.stages),
                               shared_channels=bool(r.shared_channels),
                               seed=int(config.seed))


def build_model(config, dataset):
  return models.get(config.model.name, dataset.num_classes,
                    dtype=config.model.dtype, width=config.model.width,
                    random_mask=random_mask_spec(config),
                    mean=tuple(dataset.mean), std=tuple(dataset.std))


def initial_params(config, model, dataset):
  """The model's fresh parameters, with data-dependent ones set (whitening)."""
  key = rng_streams(config.seed)["init"]
  params = jax.jit(lambda k: model.init(
      k, jnp.zeros((1,) + tuple(dataset.image_shape)), train=False)["params"]
                   )(key)
  prepare = models.REGISTRY[config.model.name].prepare
  if prepare is not None:
    params = prepare(jax.device_get(params), dataset.train.images,
                     dataset.mean, dataset.std)
  return params


def restored_state(config, workdir, dataset, sched, replicated,
                   steps_per_epoch=1):
  """(model, tx, state): a fresh state, or the newest good checkpoint's."""
  model = build_model(config, dataset)
  params = initial_params(config, model, dataset)
  tx = make_optimizer(config, sched, params, steps_per_epoch)
  state = jax.jit(functools.partial(
      init_state, model, tx, image_shape=dataset.image_shape,
      lookahead_on=config.optim.lookahead_every > 0),
                  out_shardings=replicated)(rng_streams(config.seed)["init"],
                                            params=params)
  manager = ckpt_lib.manager(workdir, config)
  return model, tx, manager, ckpt_lib.restore_latest(manager, state)


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


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       dataset: Optional[data_lib.Dataset] = None) -> dict:
  """Trains (resuming from ``workdir`` if it holds a run), then evaluates.

  Returns the final training metrics and the path of the eval files.
  """
  # --- Config, workdir, mesh.
  mesh = make_mesh()
  config_lib.validate(config, jax.device_count())
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
  step_fn = make_train_step(config, model, tx, sched, streams, steps_per_epoch,
                            num_train, jnp.asarray(dataset.mean), batch_sharding,
                            total_steps, dataset.num_classes)
  train_step = jax.jit(step_fn, in_shardings=(replicated, replicated,
                                              replicated),
                       out_shardings=(replicated, replicated),
                       donate_argnums=(0,))

  # --- Loop.
  writer = metrics_lib.MetricWriter(workdir, resume_step=start)
  progress = metrics_lib.Progress(total_steps, start)
  pending = []
  last = {}
  t0 = time.perf_counter()
  with _Preempted() as preempted:
    for step in range(start, total_steps):
      state, metrics = train_step(state, images_u8, labels_all)
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


def evaluate_only(config: ml_collections.ConfigDict, workdir: str,
                  dataset: Optional[data_lib.Dataset] = None) -> dict:
  """Evaluates the latest checkpoint in ``workdir`` (``--mode=eval``)."""
  mesh = make_mesh()
  config_lib.validate(config, jax.device_count())
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


def load_trained(workdir: str, dataset, mesh):
  """(config, model, variables) of the newest checkpoint of another run.

  ``workdir`` must hold ``config.json`` and ``checkpoints/`` of an mdr run
  on data like ``dataset`` (the same classes); fields its config lacks
  (added to mdr later) take their defaults. ``ResumeError`` naming the
  workdir otherwise.
  """
  config = load_trained_config(workdir)
  mine = _source_name(config.data.path or config.data.name)
  if mine != _source_name(dataset.name):
    raise ResumeError(
        f"{workdir!r} was trained on other data ({mine!r}; this evaluation "
        f"uses {_source_name(dataset.name)!r}): the runs compared must share "
        f"their data")
  _, spe, sched = schedule_and_steps(config, len(dataset.train.labels))
  model, _, _, state = restored_state(config, workdir, dataset, sched,
                                      NamedSharding(mesh, P()), spe)
  return config, model, model_variables(state)


def _source_name(name_or_path: str) -> str:
  return os.path.basename(os.path.normpath(name_or_path))


def load_trained_config(workdir: str):
  """The config of a trained run (``workdir/config.json``); fields its
  config lacks (added to mdr later) take their defaults. ``ResumeError``
  if ``workdir`` is not a trained mdr run."""
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path) or not ckpt_lib.has_checkpoints(workdir):
    raise ResumeError(f"{workdir!r} is not a trained mdr run: it needs "
                      f"config.json and checkpoints/ (train it first)")
  with open(path) as f:
    saved = json.load(f)
  config = config_lib.base_config()
  _update_known(config, saved)
  return config


def _update_known(config, saved: dict) -> None:
  """Sets the fields of ``config`` that ``saved`` (a config.json) holds,
  recursively; fields mdr no longer has are ignored."""
  for k, v in saved.items():
    if k not in config:
      continue
    if isinstance(v, dict):
      _update_known(config[k], v)
    else:
      config[k] = tuple(v) if isinstance(v, list) else v


def other_models(config, dataset, mesh) -> dict:
  """{workdir: (model, variables)} of ``eval.patch_transfer_workdirs`` and,
  with the transfer suite, ``eval.transfer.sources``."""
  out = {}
  workdirs = tuple(config.eval.patch_transfer_workdirs)
  if "transfer" in config.eval.suites:
    workdirs += tuple(config.eval.transfer.sources)
  for wd in dict.fromkeys(workdirs):
    _, model, variables = load_trained(wd, dataset, mesh)
    out[wd] = (model, variables)
  return out
