"""The base experiment config and its checks.

``configs/<name>.py`` files start from :func:`base_config` and override a few
fields; :func:`validate` turns a bad value into one ``ConfigError`` that names
the field, the value and what is allowed.
"""

from __future__ import annotations

import math

import ml_collections

from mdr import masks

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "constant", "linear")
FLIPS = ("random", "alternating", "none")
PADS = ("zero", "reflect")
DECAY_ON = ("kernels", "all")
TTA_LEVELS = (0, 1, 2)


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
  c.model.width = 1.0             # width multiplier (models whose registry entry takes one: airbench)
  c.model.encoding = "rgb"        # input: rgb | ds (6-channel (x, 1 - x) base model of de-randomized
                                  #   smoothing, mdr.certify.ds; models whose registry entry takes it: airbench)
  c.model.random_mask = ml_collections.ConfigDict()  # fixed random masks on feature maps (Random Mask CNN)
  c.model.random_mask.drop = 0.0  # share of each masked activation's units zeroed, in [0, 1); 0 = off
  c.model.random_mask.stages = "shallow"  # shallow (stem + stages 1-2) | deep (stages 3+) |
                                  #   a comma-separated list of stem, stage1, stage2, ...
  c.model.random_mask.shared_channels = False  # one (H, W) pattern shared by all channels of a layer

  c.train = ml_collections.ConfigDict()
  c.train.mode = "mixed"          # the training objective (mdr.objectives): clean | masked (every image
                                  #   masked) | mixed (a share masked) | pgd_at | fgsm_rs | m2at
  c.train.mixed_share = 0.5       # mixed: share of each batch that is masked
  c.train.mask_types = ("alpha", "beta", "gamma")  # drawn uniformly per masked example
  c.train.ratio_min = 0.0         # masked examples hide a ratio uniform in [ratio_min, ratio_max]
  c.train.ratio_max = 0.2
  c.train.fill = "zero"           # how hidden pixels are filled: zero | mean | noise
  c.train.grid_masks = 0          # masked/mixed: 1 or 2 = hide that many random masks of PatchCleanser's grid
                                  #   (mdr.certify.pc) instead of train.mask_types; 0 = off
  c.train.grid_patch = 5          # grid_masks: the grid's patch side (5: 9x9 masks on 32x32)
  c.train.grid_k = 6              # grid_masks: the grid's masks per axis (6: 36 masks)
  c.train.ds_band = 4             # ablated: the band of columns each training image keeps (de-randomized
                                  #   smoothing's b; one uniform random position per image, wrapping)
  c.train.batch_size = 128        # global batch, split over all devices
  c.train.epochs = 200.0          # training length in epochs ...
  c.train.steps = 0               # ... or in steps (> 0 wins over epochs)
  c.train.augment = True          # random translation (crop of a padded image) + horizontal flip
  c.train.translate = 4           # augment: max shift in pixels (crop of the image padded by this)
  c.train.translate_pad = "zero"  # augment: padding of the shifted image: zero | reflect
  c.train.flip = "random"         # augment: random (each image, p = 1/2) | alternating (a fixed half
                                  #   of the images flipped in even epochs, the other half in odd ones) | none
  c.train.whiten_bias_epochs = 3.0  # models with a whitening layer: its bias trains this long, then freezes
  c.train.label_smoothing = 0.0
  # adversarial objectives (pgd_at, fgsm_rs, m2at); ε and steps in /255 units
  c.train.adv = ml_collections.ConfigDict()
  c.train.adv.eps = 8.0           # ℓ∞ radius
  c.train.adv.step = 2.0          # PGD step size
  c.train.adv.steps = 10          # PGD steps (pgd_at; m2at with base pgd)
  c.train.adv.fgsm_step = 10.0    # fgsm_rs step from the random start (Wong et al.: 1.25 ε)
  c.train.adv.attack_bn = "train"  # model mode while attacking: train (batch statistics, Rice et al.) | eval
  # m2at: masking and mixing adversarial training, reconstructed from the abstract (each choice a field)
  c.train.m2at = ml_collections.ConfigDict()
  c.train.m2at.base = "pgd"       # perturbation δ from: pgd | fgsm_rs (with train.adv)
  c.train.m2at.mask = "square"    # mask M of x + M ⊙ δ: square (random box) | pixels (Bernoulli) | an mdr.masks attack
  c.train.m2at.mask_min = 0.3     # M's area ratio (square, masks) / keep probability (pixels): uniform in
  c.train.m2at.mask_max = 0.7     #   [mask_min, mask_max] per image
  c.train.m2at.mix = "mixup"      # mixing two masked adversarial images: mixup | cutmix | none
  c.train.m2at.mix_alpha = 1.0    # λ ~ Beta(mix_alpha, mix_alpha)
  c.train.m2at.share = 1.0        # share of each batch trained with masking + mixing
  c.train.m2at.rest = "adversarial"  # the rest of the batch: clean | adversarial (plain δ)

  c.optim = ml_collections.ConfigDict()
  c.optim.name = "sgd"            # sgd (Nesterov momentum) | adamw
  c.optim.learning_rate = 0.1     # peak learning rate
  c.optim.momentum = 0.9          # sgd momentum / adamw b1
  c.optim.weight_decay = 5e-4     # on conv/dense kernels only
  c.optim.schedule = "cosine"     # cosine (to 0) | constant, after warmup | linear (to lr_end_factor)
  c.optim.warmup_epochs = 1.0     # linear warmup length
  c.optim.lr_start_factor = 0.0   # warmup starts at this share of the peak learning rate
  c.optim.lr_end_factor = 0.0     # linear schedule: ends at this share of the peak
  c.optim.weight_decay_on = "kernels"  # kernels (conv/dense weights) | all (every trained parameter)
  c.optim.bias_lr_scale = 1.0     # learning-rate multiplier of batch-norm biases (their weight decay
                                  #   is divided by it, so the decay per step is unchanged)
  c.optim.lookahead_every = 0     # > 0: every k steps pull the weights to a slow EMA copy (airbench: 5)
  c.optim.lookahead_decay = 0.95**5  # EMA decay at the last step; step t uses decay * (t/T)**3

  c.log_every_steps = 100         # metrics to TensorBoard + metrics.jsonl + console
  c.checkpoint_every_steps = 1000  # also at the end; reruns resume from the latest
  c.keep_checkpoints = 3

  c.eval = ml_collections.ConfigDict()
  c.eval.attacks = ("alpha", "beta", "gamma", "alpha_pixels")
  c.eval.ratios = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2)
  c.eval.draws = 3                # random attacks: mean and std over this many draws
  c.eval.sparse_ratios = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.97, 0.99)
  c.eval.sparse_draws = 2         # draws for the sparse-pixel (gamma) curve
  c.eval.sparse_attack = "gamma"  # the attack of the sparse-pixel curve (an occlusion attack)
  c.eval.costly_images = 1000     # attacks marked costly (alpha_exhaustive) run on this many test images (0 = all)
  c.eval.costly_ratios = ()       # ... and at these hidden ratios (empty: eval.ratios)
  c.eval.batch_size = 512         # eval batch (global; rounded up to a multiple of the device count)
  # robustness suite (gradient attacks in eval.attacks: fgsm, pgd)
  c.eval.pgd_eps = (0, 1, 2, 4, 8, 16)  # ε values in /255 units
  c.eval.pgd_steps = 20           # PGD steps; step size 2.5·ε/steps
  c.eval.robust_images = 1000     # test images attacked (0 = all)
  # pgd_strong suite (the stronger white-box check: PGD with restarts, worst case over restarts)
  c.eval.strong_steps = 50        # PGD steps per restart; step size 2.5·ε/steps
  c.eval.strong_restarts = 5      # random-start restarts; an image is robust only if none fools the model
  c.eval.strong_images = 1000     # a fixed subset of this many test images (0 = all)
  c.eval.strong_eps = 8.0         # ℓ∞ ε in /255 units, in (0, 255] (a float: 0.5 works)
  c.eval.strong_losses = ("ce", "margin")  # PGD's losses; an image is robust only if no loss × restart fools it
  # patch suite (patch attacks in eval.attacks: lavan)
  c.eval.patch_ratio = 0.02       # patch area as a share of the image (0.02 -> 5x5 of 32x32)
  c.eval.patch_images = 200       # test images attacked per image (0 = all); correctly classified ones count
  c.eval.patch_steps = 1000       # per-image patch: at most this many steps (stops at argmax = target by patch_kappa)
  c.eval.patch_step_size = 0.05   # signed-gradient step of the patch values
  c.eval.patch_location = "search"  # per-image patch: "search" (best per image over corners, the most
                                  #   salient window, random positions), "random", or a corner
  c.eval.patch_loss = "logit_diff"  # per-image objective: logit_diff (LaVAN: target - source) | margin (target - max other)
  c.eval.patch_kappa = 0.0        # per-image stop: target logit above every other by more than this
  c.eval.patch_screen_steps = 100  # search: steps of the screen at every candidate location
  c.eval.patch_keep = 2           # search: candidates (best by the screen) given the full patch_steps
  c.eval.patch_restarts = 2       # search: random initialisations of the patch at each kept candidate
  c.eval.patch_random_candidates = 4  # search: random positions among the candidates (with 4 corners + salient)
  c.eval.certify_images = 500     # patch_cleanser: a fixed subset of this many test images (0 = all)
  c.eval.certify_patches = (2, 5)  # patch_cleanser: the patch sides certified (5 = 2.4 % of 32x32)
  c.eval.certify_masks = 6        # patch_cleanser: masks per axis (6: 36 masks, 666 passes per image)
  c.eval.certify_attack_images = 0  # patch_cleanser, smoothing: attack the defended prediction (location-searched
                                  #   LaVAN on a surrogate) on up to this many certified and half as many uncertified,
                                  #   correctly classified images (to show it can succeed), at the largest
                                  #   certify_patches side (0 = off)
  c.eval.certify_attack_steps = 50  # ... full-budget steps per image (the screen: certify_attack_screen at 9 places)
  c.eval.certify_attack_screen = 10
  c.eval.ds_band = 4              # smoothing: columns each band keeps (the band the model was trained with)
  c.eval.ds_theta = 0.2           # smoothing: a band votes for every class of softmax >= this (also top-1 votes)
  c.eval.certify_fill = "zero"    # patch_cleanser: the masks' fill, the one the model was trained with: zero or mean
  c.eval.patch_sanity_steps = ()  # also per image at these step budgets (e.g. (100, 300)): success must not fall as steps grow
  c.eval.patch_sanity_sides = ()  # also per image with these patch sides (e.g. (3, 7)): success must not fall as the patch grows
  c.eval.patch_domains = ("image", "network")  # image: patch in [0, 1]; network: unconstrained
  c.eval.patch_universal_targets = (0,)  # target classes of universal patches (empty: none)
  c.eval.patch_universal_steps = 500     # universal patch: step limit (stops after 30 confident steps)
  c.eval.patch_transfer_workdirs = ()    # other trained runs (workdirs) the universal patches are also tested on
  # transfer suite (black-box transfer from other runs, mdr.transfer)
  c.eval.transfer = ml_collections.ConfigDict()
  c.eval.transfer.sources = ()    # workdirs of trained source runs (needed by the transfer suite)
  c.eval.transfer.images = 5000   # a fixed subset of this many test images (0 = all)
  c.eval.transfer.settings = ("pgd16", "fgsm16", "fgsm8", "pgd8")  # mdr.transfer.SETTINGS
  c.eval.fill = "zero"            # fill of hidden pixels at evaluation
  c.eval.extra_fills = ()         # further fills the mask_sweep and sparse_pixels suites also run
                                  #   (e.g. ("mean",)): files mask_sweep_<fill>.*, sparse_pixels_<fill>.*
  c.eval.suites = ("clean", "mask_sweep", "sparse_pixels")  # what evaluation runs
  c.eval.tta = 0                  # test-time augmentation of every evaluated prediction: 0 none |
                                  #   1 mirror (2 views) | 2 mirror + 1-px shifts (6 views, airbench)
  return c


# The CPU scale of the mask-training configs (configs/{clean,masked,mixed}.py
# :cpu): the fast network and airbench's recipe at a width and length that
# let five models x three seeds train on a 2-core CPU (about 13 minutes per
# clean run; experiments/fast_cpu.md has the frontier).
CPU_SCALE = dict(width=0.25, epochs=8.0)


def get_config(arg=None) -> ml_collections.ConfigDict:
  """Full-scale defaults, or shrunk for a 2-core CPU.

  ``cpu``: the fast network (``airbench``, ``CPU_SCALE``) with airbench's
  recipe; evaluation without TTA, the mask sweep at 0/10/20 % hidden with
  the worst-case square ``alpha_exhaustive`` (at 20 %, on 250 images) and
  under zero and mean fill. ``cpu_resnet8``: ResNet-8 (``resnet_small``), 8 epochs of
  SGD, the CPU scale before the fast network existed.
  ``configs/<name>.py`` call this and then set their training mode.
  """
  c = base_config()
  if arg in (None, "", "full"):
    c.model.dtype = "bfloat16"
    return c
  if arg not in ("cpu", "cpu_resnet8", "gpu"):
    raise ConfigError(f"config argument {arg!r} is not known: use "
                      f"configs/<name>.py (full scale), configs/<name>.py:gpu, "
                      f"configs/<name>.py:cpu or configs/<name>.py:cpu_resnet8")
  if arg == "gpu":
    # The seed's table in minutes on one GPU: the full-width fast network
    # (airbench94's recipe, bf16), the CPU scale's evaluation on all images.
    airbench_recipe(c, width=1.0, epochs=9.9)
    c.model.dtype = "bfloat16"
    c.checkpoint_every_steps = 1000
    c.eval.tta = 0
    c.eval.ratios = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2)
    c.eval.attacks = ("alpha", "alpha_exhaustive", "beta", "gamma",
                      "alpha_pixels")
    c.eval.costly_images = 1000
    c.eval.costly_ratios = (0.0, 0.1, 0.2)
    c.eval.extra_fills = ("mean",)
    return c
  if arg == "cpu":
    airbench_recipe(c, **CPU_SCALE)
    c.model.dtype = "float32"
    c.log_every_steps = 24
    c.checkpoint_every_steps = 96
    c.eval.tta = 0
    c.eval.draws = 2
    c.eval.ratios = (0.0, 0.1, 0.2)
    c.eval.attacks = ("alpha", "alpha_exhaustive", "beta", "gamma",
                      "alpha_pixels")
    c.eval.costly_images = 250
    c.eval.costly_ratios = (0.0, 0.2)
    c.eval.extra_fills = ("mean",)
    return c
  c.model.name = "resnet_small"   # ResNet-8, width 16: ~78 k parameters
  c.train.epochs = 8.0
  c.optim.learning_rate = 0.1
  c.optim.warmup_epochs = 0.5
  c.log_every_steps = 50
  c.checkpoint_every_steps = 500
  c.eval.draws = 2
  return c


def adversarial_base(arg=None) -> ml_collections.ConfigDict:
  """The base of ``configs/{pgd_at,fgsm_rs,m2at}.py``: ε = 8/255 training.

  Full scale: ResNet-18 (the post-activation CIFAR ResNet; the anchors in
  the literature use PreActResNet-18), 200 epochs, batch 128, SGD 0.1
  cosine, bf16 compute. ``cpu``: the fast network at width 0.25, 8 epochs
  (airbench's recipe), PGD with 5 steps of 2.5·ε/5 (fewer than the 10 of
  full scale, as the issue allows at CPU scale). The evaluation of robust
  models: clean, FGSM/PGD-20 over ε (with the margin loss and the sanity
  checks), the mask sweep.
  """
  if arg not in (None, "", "full", "cpu"):
    raise ConfigError(f"config argument {arg!r} is not known: use the full "
                      f"scale (no argument) or :cpu")
  if arg == "cpu":
    c = base_config()
    airbench_recipe(c, width=0.25, epochs=8.0)
    c.model.dtype = "float32"
    c.log_every_steps = 24
    c.checkpoint_every_steps = 96
    c.train.adv.steps = 5
    c.train.adv.step = 2.5 * c.train.adv.eps / 5
    c.eval.tta = 0
  else:
    c = get_config(arg)
  c.eval.suites = ("clean", "mask_sweep", "robustness")
  c.eval.attacks = ("alpha", "beta", "gamma", "fgsm", "pgd")
  c.eval.ratios = (0.0, 0.1, 0.2)
  c.eval.pgd_eps = (0, 2, 4, 8, 16)
  c.eval.draws = 2
  return c


# airbench94's hyperparameters in its decoupled form (per 1,024 examples).
AIRBENCH = dict(lr=11.5, weight_decay=0.0153, momentum=0.85, bias_lr_scale=64.0,
                label_smoothing=0.2, warmup_share=0.23, lr_start_factor=0.2,
                lr_end_factor=0.07, lookahead_every=5, translate=2)


def airbench_recipe(c: ml_collections.ConfigDict, width: float, epochs: float,
                    batch_size: int = 1024) -> ml_collections.ConfigDict:
  """Sets ``c`` to airbench94's network and training recipe.

  The decoupled learning rate ``lr`` (per 1,024 examples, independent of the
  momentum) becomes the plain Nesterov-SGD rate of a mean loss,
  ``lr * B / 1024 / (1 + 1 / (1 - momentum))`` (1.5 at B = 1,024), and the
  decoupled weight decay the coupled L2 coefficient ``weight_decay / lr``;
  batch-norm biases train 64x faster; learning rate linear from 0.2x to 1x
  over the first 23 % of the steps, then down to 0.07x; label smoothing 0.2;
  alternating flip and 2-px reflect translation; lookahead every 5 steps;
  TTA level 2 in evaluation.
  """
  a = AIRBENCH
  c.model.name = "airbench"
  c.model.width = float(width)
  c.train.batch_size = batch_size
  c.train.epochs = float(epochs)
  c.train.steps = 0
  c.train.label_smoothing = a["label_smoothing"]
  c.train.augment = True
  c.train.translate = a["translate"]
  c.train.translate_pad = "reflect"
  c.train.flip = "alternating"
  c.train.whiten_bias_epochs = 3.0
  c.optim.name = "sgd"
  c.optim.momentum = a["momentum"]
  c.optim.learning_rate = (a["lr"] * batch_size / 1024 /
                           (1 + 1 / (1 - a["momentum"])))
  c.optim.weight_decay = a["weight_decay"] / a["lr"]
  c.optim.weight_decay_on = "all"
  c.optim.bias_lr_scale = a["bias_lr_scale"]
  c.optim.schedule = "linear"
  c.optim.warmup_epochs = a["warmup_share"] * epochs
  c.optim.lr_start_factor = a["lr_start_factor"]
  c.optim.lr_end_factor = a["lr_end_factor"]
  c.optim.lookahead_every = a["lookahead_every"]
  c.eval.tta = 2
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
  from mdr import objectives  # pylint: disable=g-import-not-at-top
  if c.train.mode not in objectives.REGISTRY:
    _fail("train.mode", c.train.mode,
          f"a registered training objective: {objectives.names()}")
  adv = c.train.adv
  for field in ("eps", "step", "fgsm_step"):
    v = adv[field]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or \
        not 0 <= v <= 255:
      _fail(f"train.adv.{field}", v, "a number in [0, 255] (/255 units)")
  if not isinstance(adv.steps, int) or adv.steps < 1:
    _fail("train.adv.steps", adv.steps, "an integer >= 1")
  if adv.attack_bn not in ("train", "eval"):
    _fail("train.adv.attack_bn", adv.attack_bn, "one of ('train', 'eval')")
  m = c.train.m2at
  if m.base not in objectives.BASE_ATTACKS:
    _fail("train.m2at.base", m.base, f"one of {tuple(objectives.BASE_ATTACKS)}")
  if m.mask not in objectives.M2AT_MASKS:
    _fail("train.m2at.mask", m.mask, f"one of {objectives.M2AT_MASKS}")
  if m.mix not in objectives.M2AT_MIXES:
    _fail("train.m2at.mix", m.mix, f"one of {objectives.M2AT_MIXES}")
  if m.rest not in objectives.M2AT_REST:
    _fail("train.m2at.rest", m.rest, f"one of {objectives.M2AT_REST}")
  _ratio("train.m2at.mask_min", m.mask_min)
  _ratio("train.m2at.mask_max", m.mask_max)
  if m.mask_min > m.mask_max:
    _fail("train.m2at.mask_min", m.mask_min,
          f"at most train.m2at.mask_max = {m.mask_max}")
  _ratio("train.m2at.share", m.share)
  if not m.mix_alpha > 0:
    _fail("train.m2at.mix_alpha", m.mix_alpha, "a number > 0")
  if c.model.name not in models.REGISTRY:
    _fail("model.name", c.model.name, f"one of {sorted(models.REGISTRY)}")
  if c.model.dtype not in models.DTYPES:
    _fail("model.dtype", c.model.dtype, f"one of {sorted(models.DTYPES)}")
  takes = models.REGISTRY[c.model.name].encodings
  if c.model.encoding not in takes:
    known = sorted({e for s in models.REGISTRY.values() for e in s.encodings})
    _fail("model.encoding", c.model.encoding,
          f"one of {takes} for model {c.model.name!r} (encodings: {known}; "
          f"ds: models " + str(sorted(n for n, s in models.REGISTRY.items()
                                      if "ds" in s.encodings)) + ")")
  objective = objectives.get(c.train.mode)
  if objective.encoding != "rgb" and c.model.encoding != objective.encoding:
    _fail("model.encoding", c.model.encoding,
          f"{objective.encoding!r} with train.mode = {c.train.mode!r} (the "
          f"model takes the images it makes)")
  if objective.check is not None:
    problem = objective.check(c)
    if problem:
      raise ConfigError(problem)
  rmask = c.model.random_mask
  if isinstance(rmask.drop, bool) or not isinstance(rmask.drop, (int, float)) \
      or not 0 <= rmask.drop < 1:
    _fail("model.random_mask.drop", rmask.drop, "a number in [0, 1) (0 = no "
          "random masks)")
  if rmask.drop > 0:
    spec = models.REGISTRY[c.model.name]
    if not spec.takes_random_mask:
      _fail("model.name", c.model.name, "a model that takes random masks "
            "(model.random_mask.drop > 0): " + str(sorted(
                n for n, s in models.REGISTRY.items() if s.takes_random_mask)))
    from mdr.models import random_mask  # pylint: disable=g-import-not-at-top
    try:
      random_mask.resolve_stages(rmask.stages, spec.num_stages)
    except ValueError as e:
      raise ConfigError(f"config.model.{e}") from None
  names = c.train.mask_types
  if isinstance(names, str) or not names or any(
      n not in masks.REGISTRY for n in names):
    _fail("train.mask_types", names,
          f"a non-empty list of {sorted(masks.REGISTRY)}")
  from mdr import attacks  # pylint: disable=g-import-not-at-top
  names = c.eval.attacks
  if isinstance(names, str) or not names:
    _fail("eval.attacks", names,
          f"a non-empty list of registered attacks: {attacks.names()}")
  for n in names:
    if n not in attacks.REGISTRY:
      _fail("eval.attacks", names, f"{n!r} is not a registered attack; "
            f"registered: {attacks.names()}")
  for field in ("train.mixed_share", "train.ratio_min", "train.ratio_max"):
    _ratio(field, c.train[field.split(".")[1]])
  if c.train.ratio_min > c.train.ratio_max:
    _fail("train.ratio_min", c.train.ratio_min,
          f"at most train.ratio_max = {c.train.ratio_max}")
  if c.train.fill not in masks.FILLS:
    _fail("train.fill", c.train.fill, f"one of {masks.FILLS}")
  if c.train.grid_masks not in (0, 1, 2) or isinstance(c.train.grid_masks,
                                                        bool):
    _fail("train.grid_masks", c.train.grid_masks,
          "0 (off), 1 or 2 (masks of the grid per masked image)")
  for field in ("grid_patch", "grid_k"):
    value = c.train[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      _fail(f"train.{field}", value, "a positive integer")
  for field, value in (("train.batch_size", c.train.batch_size),
                       ("eval.batch_size", c.eval.batch_size)):
    if not isinstance(value, int) or value <= 0:
      _fail(field, value, "a positive integer")
    if field == "train.batch_size" and value % num_devices:
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
  for field, value, allowed in (("train.flip", c.train.flip, FLIPS),
                                ("train.translate_pad", c.train.translate_pad,
                                 PADS),
                                ("optim.weight_decay_on",
                                 c.optim.weight_decay_on, DECAY_ON),
                                ("eval.tta", c.eval.tta, TTA_LEVELS)):
    if isinstance(value, bool) or value not in allowed:
      _fail(field, value, f"one of {allowed}")
  if not isinstance(c.train.translate, int) or not 0 <= c.train.translate <= 16:
    _fail("train.translate", c.train.translate, "an integer in [0, 16]")
  if not isinstance(c.optim.lookahead_every, int) or c.optim.lookahead_every < 0:
    _fail("optim.lookahead_every", c.optim.lookahead_every,
          "an integer >= 0 (0 = off)")
  if not 0 <= c.optim.lookahead_decay < 1:
    _fail("optim.lookahead_decay", c.optim.lookahead_decay, "in [0, 1)")
  for field in ("lr_start_factor", "lr_end_factor"):
    if not 0 <= c.optim[field] <= 1:
      _fail(f"optim.{field}", c.optim[field], "in [0, 1]")
  if not c.optim.bias_lr_scale > 0 or math.isinf(c.optim.bias_lr_scale):
    _fail("optim.bias_lr_scale", c.optim.bias_lr_scale, "a finite number > 0")
  if not c.model.width > 0 or math.isinf(c.model.width):
    _fail("model.width", c.model.width, "a finite number > 0")
  if not math.isfinite(c.train.whiten_bias_epochs) or \
      c.train.whiten_bias_epochs < 0:
    _fail("train.whiten_bias_epochs", c.train.whiten_bias_epochs,
          "a finite number >= 0")
  if c.optim.schedule not in SCHEDULES:
    _fail("optim.schedule", c.optim.schedule, f"one of {SCHEDULES}")
  if not c.optim.learning_rate > 0 or math.isinf(c.optim.learning_rate):
    _fail("optim.learning_rate", c.optim.learning_rate, "a finite number > 0")
  for field in ("log_every_steps", "checkpoint_every_steps",
                "keep_checkpoints"):
    if not isinstance(c[field], int) or c[field] <= 0:
      _fail(field, c[field], "a positive integer")
  if not 0 <= c.train.label_smoothing < 1:
    _fail("train.label_smoothing", c.train.label_smoothing, "in [0, 1)")
