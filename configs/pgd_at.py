r"""PGD adversarial training (Madry et al. 2018): PGD-10 ℓ∞, ε = 8/255, step 2/255.

Every training image is replaced by its PGD example (uniform random start);
the attack runs the model with batch statistics (``train.adv.attack_bn =
"train"``, as Rice et al. do). Base: ``mdr.config.adversarial_base``.

  python -m mdr.main --config configs/pgd_at.py                  # ResNet-18, 200 epochs
  python -m mdr.main --config configs/pgd_at.py:cpu \
      --config.data.path=../shared/data/cifar10-jpeg.zip         # fast network, PGD-5
"""

from mdr import config as config_lib


def get_config(arg=None):
  c = config_lib.adversarial_base(arg)
  c.train.mode = "pgd_at"
  return c
