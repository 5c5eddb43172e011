r"""Masked training: every training image is masked (gamma by default).

The seed's first two claims: a mask-trained model loses some clean accuracy,
resists mask attacks, and classifies from only a few visible pixels. For the
variant trained on all three attacks add
``--config.train.mask_types='("alpha","beta","gamma")'``.

Full scale (GPU/TPU: CIFAR-10 from TFDS, ResNet-18, 200 epochs, bf16):
  python -m mdr.main --config configs/masked.py
One GPU, minutes (the full-width fast network, airbench94's recipe, 9.9
epochs, bf16):
  python -m mdr.main --config configs/masked.py:gpu \
      --config.data.path=../shared/data/cifar10-jpeg.zip
CPU scale (2 cores: the fast network at width 0.25, 8 epochs; the mask
sweep under zero and mean fill, with α*):
  python -m mdr.main --config configs/masked.py:cpu \
      --config.data.path=../shared/data/cifar10-jpeg.zip
The first CPU scale, ResNet-8 ("resnet_small"), is configs/masked.py:cpu_resnet8.

Measured results of this config (accuracy, attacks, wall time, seeds) are in
experiments/README.md, generated from the committed result files.
"""

from mdr import config as config_lib


def get_config(arg=None):
  config = config_lib.get_config(arg)
  config.train.mode = "masked"          # every training image is masked
  config.train.mask_types = ("gamma",)   # random scattered pixels
  return config
