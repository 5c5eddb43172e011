"""The base experiment config and its checks.

``configs/<name>.py`` files start from :func:`base_config` and override a few
fields; :func:`validate` turns a bad value into one ``ConfigError`` that names
the field, the value and what is allowed.
"""

from __future__ import annotations

import math

import ml_collections

from mdr import masks

MODES = ("clean", "masked", "mixed")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "constant")


class ConfigError(ValueError):
  """A config field holds a value that is not allowed."""


def base_config() -> ml_collections.ConfigDict:
  """Every field, with its default (CIFAR-10, ResNet-18, mixed training).

  Sequences are tuples so that they can be overridden on the command line:
  ``--config.eval.ratios='(0.0, 0.1)'``.
  """
  c = ml_collections.ConfigDict()
  c.seed = 0                      # root of every random stream (init, data, masks, eval)

  c.data = ml_collections.ConfigDict()
  c.data.name = "cifar10"         # TFDS name, or "synthetic" (embedded, offline)
  c.data.path = ""                # image folder or .zip (train/<class>/*, test/<class>/*); wins over name
  c.data.tfds_data_dir = ""       # TFDS data dir ("" = TFDS default)
  c.data.synthetic_train = 10000  # synthetic train split size
  c.data.synthetic_test = 2000    # synthetic test split size
  c.data.seed = 0                 # synthetic generator seed
  c.data.max_train = 0            # keep only this many train images (0 = all)
  c.data.max_test = 0             # keep only this many test images (0 = all)

  c.model = ml_collections.ConfigDict()
  c.model.name = "resnet18"       # mdr.models registry name
  c.model.dtype = "float32"       # "bfloat16" for GPU/TPU compute

  c.train = ml_collections.ConfigDict()
  c.train.mode = "mixed"          # clean | masked (every image masked) | mixed (a share masked)
  c.train.mixed_share = 0.5       # mixed: share of each batch that is masked
  c.train.mask_types = ("alpha", "beta", "gamma")  # drawn uniformly per masked example
  c.train.ratio_min = 0.0         # masked examples hide a ratio uniform in [ratio_min, ratio_max]
  c.train.ratio_max = 0.2
  c.train.fill = "zero"           # how hidden pixels are filled: zero | mean | noise
  c.train.batch_size = 128        # global batch, split over all devices
  c.train.epochs = 200.0          # training length in epochs ...
  c.train.steps = 0               # ... or in steps (> 0 wins over epochs)
  c.train.augment = True          # random crop (4-px zero padding) + horizontal flip
  c.train.label_smoothing = 0.0

  c.optim = ml_collections.ConfigDict()
  c.optim.name = "sgd"            # sgd (Nesterov momentum) | adamw
  c.optim.learning_rate = 0.1     # peak learning rate
  c.optim.momentum = 0.9          # sgd momentum / adamw b1
  c.optim.weight_decay = 5e-4     # on conv/dense kernels only
  c.optim.schedule = "cosine"     # cosine (to 0) | constant, after warmup
  c.optim.warmup_epochs = 1.0     # linear warmup length

  c.log_every_steps = 100         # metrics to TensorBoard + metrics.jsonl + console
  c.checkpoint_every_steps = 1000  # also at the end; reruns resume from the latest
  c.keep_checkpoints = 3

  c.eval = ml_collections.ConfigDict()
  c.eval.attacks = ("alpha", "beta", "gamma", "alpha_pixels")
  c.eval.ratios = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2)
  c.eval.draws = 3                # random attacks: mean and std over this many draws
  c.eval.sparse_ratios = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.97, 0.99)
  c.eval.sparse_draws = 2         # draws for the sparse-pixel (gamma) curve
  c.eval.batch_size = 500         # eval batch (global)
  c.eval.fill = "zero"            # fill of hidden pixels at evaluation
  return c


def get_config(arg=None) -> ml_collections.ConfigDict:
  """Full-scale defaults, or with ``arg="cpu"`` shrunk for a 2-core CPU.

  ``configs/<name>.py`` call this and then set their training mode.
  """
  c = base_config()
  if arg in (None, "", "full"):
    c.model.dtype = "bfloat16"
    return c
  if arg != "cpu":
    raise ConfigError(f"config argument {arg!r} is not known: use "
                      f"configs/<name>.py (full scale) or configs/<name>.py:cpu")
  c.model.name = "resnet_small"   # ResNet-8, width 16: ~78 k parameters
  c.train.epochs = 8.0
  c.optim.learning_rate = 0.1
  c.optim.warmup_epochs = 0.5
  c.log_every_steps = 50
  c.checkpoint_every_steps = 500
  c.eval.draws = 2
  return c


def _fail(field, value, allowed):
  raise ConfigError(f"config.{field} = {value!r} is not allowed: {allowed}")


def _ratio(field, value):
  if not isinstance(value, (int, float)) or isinstance(value, bool) or \
      math.isnan(value) or not 0 <= value <= 1:
    _fail(field, value, "expected a number in [0, 1]")


def validate(c: ml_collections.ConfigDict, num_devices: int = 1) -> None:
  """Raises ``ConfigError`` for the first bad field (name, value, allowed)."""
  from mdr import models  # pylint: disable=g-import-not-at-top
  if c.train.mode not in MODES:
    _fail("train.mode", c.train.mode, f"one of {MODES}")
  if c.model.name not in models.REGISTRY:
    _fail("model.name", c.model.name, f"one of {sorted(models.REGISTRY)}")
  if c.model.dtype not in models.DTYPES:
    _fail("model.dtype", c.model.dtype, f"one of {sorted(models.DTYPES)}")
  for field in ("train.mask_types", "eval.attacks"):
    names = c.train.mask_types if field == "train.mask_types" else c.eval.attacks
    if isinstance(names, str) or not names or any(
        n not in masks.REGISTRY for n in names):
      _fail(field, names, f"a non-empty list of {sorted(masks.REGISTRY)}")
  for field in ("train.mixed_share", "train.ratio_min", "train.ratio_max"):
    _ratio(field, c.train[field.split(".")[1]])
  if c.train.ratio_min > c.train.ratio_max:
    _fail("train.ratio_min", c.train.ratio_min,
          f"at most train.ratio_max = {c.train.ratio_max}")
  for field in ("eval.ratios", "eval.sparse_ratios"):
    values = c.eval[field.split(".")[1]]
    if isinstance(values, (str, int, float)) or not values:
      _fail(field, values, "a non-empty list of numbers in [0, 1]")
    for v in values:
      _ratio(field, v)
  for field in ("train.fill", "eval.fill"):
    if c[field.split(".")[0]].fill not in masks.FILLS:
      _fail(field, c[field.split(".")[0]].fill, f"one of {masks.FILLS}")
  for field, value in (("train.batch_size", c.train.batch_size),
                       ("eval.batch_size", c.eval.batch_size)):
    if not isinstance(value, int) or value <= 0:
      _fail(field, value, "a positive integer")
    if value % num_devices:
      _fail(field, value, f"a multiple of the device count ({num_devices}); "
            f"e.g. {max(1, value // num_devices) * num_devices}")
  for field, value in (("train.epochs", c.train.epochs),
                       ("optim.warmup_epochs", c.optim.warmup_epochs)):
    if not math.isfinite(value) or value < 0:
      _fail(field, value, "a finite number >= 0")
  if c.train.steps < 0 or c.train.epochs < 0 or (
      c.train.steps == 0 and c.train.epochs <= 0):
    _fail("train.steps/epochs", (c.train.steps, c.train.epochs),
          "steps > 0, or steps = 0 and epochs > 0")
  if c.optim.name not in OPTIMIZERS:
    _fail("optim.name", c.optim.name, f"one of {OPTIMIZERS}")
  if c.optim.schedule not in SCHEDULES:
    _fail("optim.schedule", c.optim.schedule, f"one of {SCHEDULES}")
  if not c.optim.learning_rate > 0 or math.isinf(c.optim.learning_rate):
    _fail("optim.learning_rate", c.optim.learning_rate, "a finite number > 0")
  for field in ("log_every_steps", "checkpoint_every_steps",
                "keep_checkpoints"):
    if not isinstance(c[field], int) or c[field] <= 0:
      _fail(field, c[field], "a positive integer")
  for field in ("eval.draws", "eval.sparse_draws"):
    value = c.eval[field.split(".")[1]]
    if not isinstance(value, int) or value <= 0:
      _fail(field, value, "a positive integer")
  if not 0 <= c.train.label_smoothing < 1:
    _fail("train.label_smoothing", c.train.label_smoothing, "in [0, 1)")
