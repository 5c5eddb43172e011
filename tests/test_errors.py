"""Bad input gives one clear message naming the value and what is allowed.

Config checks run in-process (mdr.config.validate); a representative set also
runs through the command line, which must exit non-zero within seconds with
one ``error:`` line and leave an existing workdir untouched. Data and API
errors are tested in test_data.py, test_masks.py and test_saliency.py; the
table of all cases is docs/errors.md.
"""

import hashlib
import os
import subprocess
import sys
import time

import pytest

from conftest import REPO, tiny_config, validate
from mdr import config as config_lib
from mdr import masks
from mdr import models
from mdr import objectives

CONFIG_CASES = [
    ({"train.ratio_max": -0.1}, "config.train.ratio_max = -0.1 is not allowed: "
     "expected a number in [0, 1]"),
    ({"train.ratio_max": 1.5}, "config.train.ratio_max = 1.5"),
    ({"train.ratio_min": float("nan")}, "config.train.ratio_min = nan"),
    ({"train.mixed_share": 2.0}, "config.train.mixed_share = 2.0"),
    ({"train.ratio_min": 0.3, "train.ratio_max": 0.2},
     "config.train.ratio_min = 0.3 is not allowed: at most train.ratio_max"),
    ({"train.mask_types": ("gamma", "delta")},
     "config.train.mask_types = ('gamma', 'delta') is not allowed: a non-empty "
     f"list of {sorted(masks.REGISTRY)}"),
    ({"train.mask_types": ()}, "config.train.mask_types = ()"),
    ({"eval.attacks": ("blur",)}, "config.eval.attacks = ('blur',)"),
    ({"eval.ratios": (0.0, 1.2)}, "config.eval.ratios = 1.2"),
    ({"eval.sparse_ratios": (-0.5,)}, "config.eval.sparse_ratios = -0.5"),
    ({"model.name": "resnet50"}, "config.model.name = 'resnet50' is not "
     f"allowed: one of {sorted(models.REGISTRY)}"),
    ({"model.dtype": "float16"}, "config.model.dtype = 'float16'"),
    ({"train.mode": "adversarial"}, "config.train.mode = 'adversarial' is not "
     f"allowed: a registered training objective: {objectives.names()}"),
    ({"train.fill": "blur"}, "config.train.fill = 'blur'"),
    ({"train.batch_size": 0}, "config.train.batch_size = 0 is not allowed: a "
     "positive integer"),
    ({"optim.name": "lamb"}, "config.optim.name = 'lamb'"),
    ({"optim.schedule": "step"}, "config.optim.schedule = 'step'"),
    ({"optim.learning_rate": -1.0}, "config.optim.learning_rate = -1.0"),
    ({"train.steps": 0, "train.epochs": 0.0}, "config.train.steps/epochs"),
    ({"eval.draws": 0}, "config.eval.draws = 0"),
    ({"log_every_steps": 0}, "config.log_every_steps = 0"),
    ({"train.label_smoothing": 1.0}, "config.train.label_smoothing = 1.0"),
]


@pytest.mark.parametrize("overrides,message", CONFIG_CASES,
                         ids=[",".join(o) for o, _ in CONFIG_CASES])
def test_bad_config_value(overrides, message):
  with pytest.raises(config_lib.ConfigError) as e:
    validate(tiny_config(**overrides))
  assert message in str(e.value)


def test_batch_not_divisible_by_devices():
  with pytest.raises(config_lib.ConfigError, match=r"config.train.batch_size "
                     r"= 12 is not allowed: a multiple of the device count "
                     r"\(8\); e.g. 8"):
    validate(tiny_config(**{"train.batch_size": 12}), 8)


def test_unknown_transfer_setting_is_refused_before_training(tmp_path):
  # mdr.transfer checks its own settings; training calls that check first.
  from mdr import train  # pylint: disable=g-import-not-at-top
  with pytest.raises(config_lib.ConfigError, match=r"config.eval.transfer."
                     r"settings = \('pgd99',\) is not allowed: a list of "
                     r"\['pgd16', 'fgsm16', 'fgsm8', 'pgd8'\]"):
    train.train_and_evaluate(
        tiny_config(**{"eval.transfer.settings": ("pgd99",)}),
        str(tmp_path / "wd"))
  assert not (tmp_path / "wd").exists()


def test_batch_larger_than_dataset(tmp_path):
  from mdr import train  # pylint: disable=g-import-not-at-top
  with pytest.raises(config_lib.ConfigError, match="batch_size = 512 is "
                     "larger than the train split \\(256 images\\)"):
    train.train_and_evaluate(tiny_config(**{"train.batch_size": 512}),
                             str(tmp_path / "wd"))


def test_unknown_config_argument():
  with pytest.raises(config_lib.ConfigError, match="config argument 'tpu'"):
    config_lib.get_config("tpu")


def test_scales_of_the_mask_configs():
  """:cpu and :gpu are the fast network (width 0.25 / 1.0), :cpu_resnet8
  ResNet-8; each validates and evaluates zero and mean fill and α* (the
  fast-network scales)."""
  cpu, gpu, r8 = (config_lib.get_config(a) for a in ("cpu", "gpu",
                                                      "cpu_resnet8"))
  assert (cpu.model.name, cpu.model.width, cpu.train.epochs) == (
      "airbench", 0.25, 8.0)
  assert (gpu.model.name, gpu.model.width, gpu.train.epochs,
          gpu.model.dtype) == ("airbench", 1.0, 9.9, "bfloat16")
  assert r8.model.name == "resnet_small" and r8.optim.lookahead_every == 0
  for c in (cpu, gpu):
    validate(c)
    assert c.eval.extra_fills == ("mean",) and c.eval.tta == 0
    assert "alpha_exhaustive" in c.eval.attacks


# ---------------------------------------------------------------- the CLI.

def _tree_digest(path):
  h = hashlib.sha256()
  for root, _, files in sorted(os.walk(path)):
    for name in sorted(files):
      p = os.path.join(root, name)
      h.update(p.encode())
      with open(p, "rb") as f:
        h.update(f.read())
  return h.hexdigest()


CLI_CASES = [
    (["--config", "configs/demo.py", "--config.trian.mode=x"],
     "bad config --config --config.trian.mode=x: 'trian' Did you mean "
     "\"train\""),
    (["--config", "configs/demo.py", "--config.train.ratio_max=1.5"],
     "config.train.ratio_max = 1.5 is not allowed"),
    (["--config", "configs/demo.py", "--config.train.ratio_max=abc"],
     "could not convert string to float: 'abc'"),
    (["--config", "configs/demo.py", "--config.model.name=vgg"],
     "config.model.name = 'vgg'"),
    (["--config", "configs/demo.py", "--config.train.mask_types=('gamma','x')"],
     "config.train.mask_types = ('gamma', 'x') is not allowed"),
    (["--config", "configs/demo.py", "--config.eval.ratios=(0.0,-0.2)"],
     "config.eval.ratios = -0.2 is not allowed"),
    (["--config", "configs/demo.py", "--config.data.name=imagenet_nope"],
     "'imagenet_nope' is not a TFDS dataset"),
    (["--config", "configs/demo.py", "--mode=test"],
     "flag --mode=test: value should be one of <train|eval>"),
    (["--config", "configs/nope.py"],
     "cannot load config file 'configs/nope.py': no such file"),
    (["--config", "configs/mixed.py:tpu"], "config argument 'tpu' is not known"),
    (["--config", "configs/demo.py", "--config.data.path=/no/such/dir"],
     "/no/such/dir"),
    (["--config", "configs/demo.py", "--mode=eval"],
     "no checkpoint in"),
]


@pytest.fixture(scope="module")
def existing_workdir(tmp_path_factory):
  """A workdir with earlier results that no failing command may touch."""
  wd = tmp_path_factory.mktemp("earlier") / "wd"
  (wd / "eval").mkdir(parents=True)
  (wd / "eval" / "mask_sweep.json").write_text("[]\n")
  (wd / "config.json").write_text("{}\n")
  return str(wd)


@pytest.mark.parametrize("args,message", CLI_CASES,
                         ids=[a[-1] for a, _ in CLI_CASES])
def test_cli_bad_input(args, message, existing_workdir):
  before = _tree_digest(existing_workdir)
  start = time.perf_counter()
  out = subprocess.run([sys.executable, "-m", "mdr.main", *args,
                        f"--workdir={existing_workdir}"], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
  took = time.perf_counter() - start
  assert out.returncode != 0
  errors = [l for l in out.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1, out.stderr[-2000:]
  assert message in errors[0], errors[0]
  assert "Traceback" not in out.stderr, out.stderr[-2000:]
  assert took < 30, took
  assert _tree_digest(existing_workdir) == before
