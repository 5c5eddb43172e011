r"""Random Mask CNN (arXiv 2007.14249): fixed random masks on early feature maps.

Clean training of a network whose batch-norm outputs in the "shallow" stages
(the stem and stages 1-2) are multiplied by fixed random binary masks with
``model.random_mask.drop`` of the units zeroed (``mdr.models.random_mask``).

Full scale (GPU/TPU: ResNet-18, drop 0.5, the reference's default set, 200
epochs of the base schedule where the reference trains 350; bf16):
  python -m mdr.main --config configs/random_mask.py
CPU scale (2 cores: the fast network of configs/fast.py:cpu with the same
masks on its whitening layer and first two groups):
  python -m mdr.main --config configs/random_mask.py:cpu \
      --config.data.path=../shared/data/cifar10-jpeg.zip

Evaluation: clean accuracy, the mask sweep (alpha/beta/gamma) and white-box
FGSM/PGD (so a reader sees whether robustness to transferred examples is
more than gradient masking). The black-box transfer evaluation needs source
models: add ``"transfer"`` to ``eval.suites`` and their workdirs to
``eval.transfer.sources``, or build the whole source x target matrix with
``python -m mdr.transfer``.
"""

from mdr import config as config_lib

DROP = 0.5


def get_config(arg=None):
  if arg not in (None, "", "full", "cpu"):
    raise config_lib.ConfigError(
        f"config argument {arg!r} is not known: use configs/random_mask.py "
        f"(full scale) or configs/random_mask.py:cpu")
  if arg == "cpu":
    c = config_lib.base_config()
    config_lib.airbench_recipe(c, width=0.5, epochs=8.0)
    c.model.dtype = "float32"
    c.log_every_steps = 24
    c.checkpoint_every_steps = 96
    c.eval.draws = 2
  else:
    c = config_lib.get_config(arg)
  c.train.mode = "clean"
  c.model.random_mask.drop = DROP
  c.model.random_mask.stages = "shallow"
  c.eval.suites = ("clean", "mask_sweep", "robustness")
  c.eval.attacks = ("alpha", "beta", "gamma", "fgsm", "pgd")
  c.eval.ratios = (0.0, 0.1, 0.2)
  c.eval.pgd_eps = (0, 2, 8, 16)
  c.eval.robust_images = 500
  return c
