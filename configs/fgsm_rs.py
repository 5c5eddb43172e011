r"""Fast adversarial training (Wong et al. 2020, "fast is better than free").

One FGSM step of 10/255 from a uniform random start in the ε = 8/255 ball,
projected: about twice the cost of clean training. Full scale as in the
paper: 15 epochs with a one-cycle learning rate (linear up to the peak over
40 % of the run, then down to 0). Base: ``mdr.config.adversarial_base``.

  python -m mdr.main --config configs/fgsm_rs.py
  python -m mdr.main --config configs/fgsm_rs.py:cpu \
      --config.data.path=../shared/data/cifar10-jpeg.zip
"""

from mdr import config as config_lib


def get_config(arg=None):
  c = config_lib.adversarial_base(arg)
  c.train.mode = "fgsm_rs"
  if arg in (None, "", "full"):
    c.train.epochs = 15.0
    c.optim.learning_rate = 0.2
    c.optim.schedule = "linear"
    c.optim.warmup_epochs = 6.0
    c.optim.lr_start_factor = 0.0
    c.optim.lr_end_factor = 0.0
  return c
