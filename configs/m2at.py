r"""M2AT: masking and mixing adversarial training (arXiv 2302.08066), reconstructed.

The paper has no public code; this follows its abstract, and every choice is
a field of ``config.train.m2at`` (``mdr.objectives.m2at``): the perturbation
δ of the base attack (``base``: PGD as in ``configs/pgd_at.py``, or FGSM-RS)
is masked by a binary mask (``mask``: a random square covering 30-70 % of
the image by default, or Bernoulli pixels, or an ``mdr.masks`` attack), and
two such partially perturbed images are mixed (``mix``: mixup with λ ~
Beta(1, 1), or cutmix), soft labels with the same λ; ``share`` of each
batch is trained this way, the rest (``rest``) on the plain adversarial
example. Base: ``mdr.config.adversarial_base``.

  python -m mdr.main --config configs/m2at.py
  python -m mdr.main --config configs/m2at.py:cpu \
      --config.data.path=../shared/data/cifar10-jpeg.zip \
      --config.train.m2at.mix=cutmix --config.train.m2at.mask=pixels
"""

from mdr import config as config_lib


def get_config(arg=None):
  c = config_lib.adversarial_base(arg)
  c.train.mode = "m2at"
  return c
