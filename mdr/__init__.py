"""mdr: how image classifiers behave when parts of the image are hidden or
changed, and how to train them so that it does not break them.

``mdr.benchmark(logits_fn, images, labels, key, suite=...)`` measures any JAX
classifier in one call (``mdr.benchmarking``); the attacks are in
``mdr.attacks`` and ``mdr.masks``.
"""


def __getattr__(name):
  # Lazy: ``import mdr.masks`` does not load the attacks and the benchmark.
  if name == "benchmark":
    from mdr.benchmarking import benchmark  # pylint: disable=g-import-not-at-top
    return benchmark
  raise AttributeError(f"module 'mdr' has no attribute {name!r}")
