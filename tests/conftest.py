"""Shared test helpers: a tiny config on the embedded synthetic data."""

import os
import shutil
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# One XLA compilation cache per test session, empty at its start, shared by
# the xdist workers and the subprocesses they start (both inherit the
# environment the session's first process sets here, before JAX is
# imported): the suite's many tiny runs compile the same steps, each once.
# A cache directory the caller set is used as it is and never removed.
_OWN_CACHE = "JAX_COMPILATION_CACHE_DIR" not in os.environ
if _OWN_CACHE:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(
      tempfile.gettempdir(), f"mdr-test-xla-cache-{os.getpid()}")
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")


def pytest_sessionfinish(session, exitstatus):
  del exitstatus
  if _OWN_CACHE and not hasattr(session.config, "workerinput"):
    shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


def tiny_config(**overrides):
  """configs/demo.py shrunk to seconds: resnet_tiny, 8 steps, 2 ratios, the
  clean and mask suites."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location(
      "demo_config", os.path.join(REPO, "configs", "demo.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config()
  c.model.name = "resnet_tiny"
  c.data.synthetic_train = 256
  c.data.synthetic_test = 96
  c.train.batch_size = 32
  c.train.steps = 8
  c.log_every_steps = 4
  c.checkpoint_every_steps = 4
  c.eval.ratios = (0.0, 0.1)
  c.eval.sparse_ratios = (0.0, 0.5, 0.9)
  c.eval.draws = 2
  c.eval.sparse_draws = 2
  c.eval.batch_size = 48
  # The mask suites only: the gradient and patch suites of configs/demo.py
  # have their own tests, which ask for them.
  c.eval.suites = ("clean", "mask_sweep", "sparse_pixels")
  c.eval.attacks = ("alpha", "beta", "gamma", "alpha_pixels")
  return apply_overrides(c, overrides)


def apply_overrides(c, overrides):
  """Sets ``{"section.field": value}`` entries on config ``c``; returns it."""
  for key, value in overrides.items():
    target = c
    *path, last = key.split(".")
    for p in path:
      target = target[p]
    target[last] = value
  return c


@pytest.fixture
def tiny():
  return tiny_config


def linear_probe_class():
  """A flax logistic regression on the pixels with the attributes mdr's
  models take (``num_classes``, ``mean``, ``std``, ``dtype``) and no batch
  norm: no collection besides ``params``. Register it under a test name."""
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  class LinearProbe(nn.Module):
    num_classes: int
    mean: tuple = (0.5,) * 3
    std: tuple = (0.25,) * 3
    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
      return nn.Dense(self.num_classes)((x - 0.5).reshape(len(x), -1))

  return LinearProbe



def validate(c, num_devices=1):
  """Every config check of a run: the cross-cutting ones
  (``mdr.config.validate``) and each evaluator's own."""
  from mdr import config as config_lib  # pylint: disable=g-import-not-at-top
  from mdr import evaluators  # pylint: disable=g-import-not-at-top
  config_lib.validate(c, num_devices)
  evaluators.check_config(c)
