r"""Clean training: the seed's baseline (no masks during training).

Full scale (GPU/TPU: CIFAR-10 from TFDS, ResNet-18, 200 epochs, bf16):
  python -m mdr.main --config configs/clean.py
CPU scale (2 cores: ResNet-8 "resnet_small", 8 epochs):
  python -m mdr.main --config configs/clean.py:cpu \
      --config.data.path=../shared/data/cifar10-jpeg.zip

Measured runtime and accuracy: not yet (configs/mixed.py:cpu, the same model,
data and length with half of the batches masked, took 38.6 min on 2 CPU cores;
clean training skips the mask and saliency work and is faster).
"""

from mdr import config as config_lib


def get_config(arg=None):
  config = config_lib.get_config(arg)
  config.train.mode = "clean"   # no masks in training
  return config
