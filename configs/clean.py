r"""Clean training: the seed's baseline (no masks during training).

Full scale (GPU/TPU: CIFAR-10 from TFDS, ResNet-18, 200 epochs, bf16):
  python -m mdr.main --config configs/clean.py
CPU scale (2 cores: ResNet-8 "resnet_small", 8 epochs):
  python -m mdr.main --config configs/clean.py:cpu \
      --config.data.path=../shared/data/cifar10-jpeg.zip

Measured (2026-11-22, CPU scale, CIFAR-10 JPEG copy, seed 0, the command above
on this 2-core machine): 29.6 min wall (26 min training); test accuracy clean
73.80 %, at 20 % hidden alpha 52.77, beta 56.98, gamma 14.07, alpha_pixels
32.75 (means over 2 draws; eval/mask_sweep.md). Full scale: not yet measured.
"""

from mdr import config as config_lib


def get_config(arg=None):
  config = config_lib.get_config(arg)
  config.train.mode = "clean"   # no masks in training
  return config
