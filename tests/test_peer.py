"""Cross-check against an implementation nobody here wrote: Foolbox 3.3.4.

Optional: skipped unless ``foolbox`` (and ``eagerpy``) are installed
(``pip install foolbox==3.3.4 eagerpy``). The same small trained model and
the same test images; mdr's PGD-20 accuracy at 8/255 must be within one
point of Foolbox's LinfPGD with the same step size and random start.
"""

import importlib.util
import os

import jax
import pytest

from conftest import REPO

fb = pytest.importorskip("foolbox")


def _bench():
  spec = importlib.util.spec_from_file_location(
      "bench_attacks", os.path.join(REPO, "experiments", "bench_attacks.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.slow
def test_pgd20_matches_foolbox_within_one_point():
  bench = _bench()
  logits_fn, x, y, clean = bench.trained_model(300, 1000)
  assert clean > 60                   # a trained model, not chance
  key = jax.random.key(0)
  ours = bench.robust_accuracy(
      logits_fn, x, y, lambda a, b: bench.mdr_pgd(
          logits_fn, a, b, jax.random.fold_in(key, len(b))), 250)
  theirs = bench.robust_accuracy(
      logits_fn, x, y, lambda a, b: bench.foolbox_pgd(logits_fn, a, b), 250)
  assert ours < clean - 5             # the attack does something
  assert abs(ours - theirs) <= 1.0, (ours, theirs)
