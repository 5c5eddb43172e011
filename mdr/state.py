"""A model's training state: the learning-rate schedule, the optimizer, the
state at step 0 and the newest checkpoint's.

What training (``mdr.train``) and loading a trained run (``mdr.runs``) share,
below both: nothing here imports the training loop or evaluation.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import optax

from mdr import checkpoint as ckpt_lib
from mdr import config as config_lib
from mdr import models
from mdr.runtime import rng_streams

State = dict[str, Any]


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
                    encoding=config.model.get("encoding", "rgb"),
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
                     dataset.mean, dataset.std,
                     encoding=config.model.get("encoding", "rgb"))
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
