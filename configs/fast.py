r"""Fast clean training: airbench94's network and recipe (mdr.models.airbench).

Full width (GPU/TPU anchor: airbench94 itself, 9.9 epochs, batch 1024, bf16,
test-time augmentation level 2):
  python -m mdr.main --config configs/fast.py
CPU scale (2 cores: the width and epochs chosen from the frontier measured
by python -m experiments.run --group=frontier, results in experiments/fast_cpu.md):
  python -m mdr.main --config configs/fast.py:cpu \
      --config.data.path=../shared/data/cifar10-jpeg.zip

Only clean accuracy is evaluated by default (``eval.suites``); add
``--config.eval.suites='("clean","mask_sweep","sparse_pixels")'`` for the
mask attacks. The recipe (learning rate, weight decay, schedule, lookahead,
flip, translation, TTA) is ``mdr.config.airbench_recipe``.
"""

from mdr import config as config_lib

FULL = dict(width=1.0, epochs=9.9)   # airbench94
CPU = dict(width=0.5, epochs=8.0)    # the CPU-scale choice (experiments/fast_cpu.md)


def get_config(arg=None):
  if arg not in (None, "", "full", "cpu"):
    raise config_lib.ConfigError(
        f"config argument {arg!r} is not known: use configs/fast.py (full "
        f"width) or configs/fast.py:cpu")
  c = config_lib.base_config()
  cpu = arg == "cpu"
  config_lib.airbench_recipe(c, **(CPU if cpu else FULL))
  c.model.dtype = "float32" if cpu else "bfloat16"
  c.train.mode = "clean"
  c.log_every_steps = 24 if cpu else 48
  c.checkpoint_every_steps = 96
  c.eval.suites = ("clean",)
  c.eval.draws = 2
  return c
