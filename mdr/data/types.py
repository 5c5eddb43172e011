"""Shared data types and helpers: ``DataError``, ``Split``, ``Dataset``,
``subsample`` and ``channel_stats``, used by every source in ``mdr.data``."""

from __future__ import annotations

import dataclasses
from typing import Sequence

from absl import logging
import numpy as np

SUBSAMPLE_SEED = 0             # permutation behind max_train / max_test

_SPLITS = ("train", "test")
_ALTERNATIVES = (
    "Alternatives: a local image folder or .zip with train/<class>/* and "
    "test/<class>/* (--config.data.path=DIR_OR_ZIP), the embedded synthetic "
    "dataset (--config.data.name=synthetic), or a TFDS data dir that already "
    "holds the prepared dataset (--config.data.tfds_data_dir=DIR).")


class DataError(ValueError):
  """A problem with the data a user asked for, with what to do about it."""


@dataclasses.dataclass
class Split:
  """One split held in memory.

  Attributes:
    images: uint8 array ``[N, H, W, 3]``.
    labels: int32 array ``[N]`` of class indices.
  """
  images: np.ndarray
  labels: np.ndarray

  def __len__(self) -> int:
    return len(self.labels)


@dataclasses.dataclass
class Dataset:
  """A train and a test split with their class names and statistics.

  Attributes:
    name: the source: ``"synthetic"``, the TFDS name, or the folder/zip path.
    train: the training split.
    test: the test split.
    class_names: one name per class; labels index into it.
    mean: per-channel mean of the train images scaled to [0, 1].
    std: per-channel standard deviation of the train images in [0, 1].
  """
  name: str
  train: Split
  test: Split
  class_names: list[str]
  mean: tuple[float, ...]
  std: tuple[float, ...]

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  @property
  def image_shape(self) -> tuple[int, int, int]:
    """``(H, W, C)`` of every image."""
    return tuple(int(s) for s in self.train.images.shape[1:])


def subsample(n: int, max_n: int) -> np.ndarray:
  """Indices kept of an ``n``-image split by ``max_n`` (0 = all, in order).

  The first ``max_n`` entries of a permutation drawn with seed
  ``SUBSAMPLE_SEED``: the same for every source, and a random (so roughly
  class-balanced) subset in random order, whatever order the split had.
  """
  if max_n <= 0 or max_n >= n:
    return np.arange(n)
  return np.random.default_rng(SUBSAMPLE_SEED).permutation(n)[:max_n]


def _limit(dataset: Dataset, max_train: int, max_test: int) -> Dataset:
  """Applies ``subsample`` to in-memory splits, recomputing the statistics."""
  if not max_train and not max_test:
    return dataset
  splits = {}
  for split, max_n in (("train", max_train), ("test", max_test)):
    s = getattr(dataset, split)
    idx = subsample(len(s.labels), max_n)
    splits[split] = Split(s.images[idx], s.labels[idx])
  return _make_dataset(dataset.name, splits["train"], splits["test"],
                       dataset.class_names)


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...],
                                               tuple[float, ...]]:
  """Per-channel mean and (population) std of uint8 images, scaled to [0, 1].

  Exact integer sums, reduced over the image axis in chunks (fast, and no
  float copy of the whole array).
  """
  if images.dtype != np.uint8 or images.ndim != 4 or not len(images):
    raise ValueError(f"need non-empty uint8 [N, H, W, C] images, got "
                     f"{images.dtype} {images.shape}")
  c = images.shape[-1]
  flat = images.reshape(len(images), -1)
  total = np.zeros(flat.shape[1], np.uint64)
  squares = np.zeros(flat.shape[1], np.uint64)
  step = max(1, min(65536, 2**22 // flat.shape[1]))  # uint32 sums cannot wrap
  for lo in range(0, len(flat), step):
    chunk = flat[lo:lo + step]
    total += chunk.sum(axis=0, dtype=np.uint32)
    wide = chunk.astype(np.uint16)
    wide *= wide  # 255**2 fits in uint16
    squares += wide.sum(axis=0, dtype=np.uint32)
  total = total.reshape(-1, c).sum(axis=0)
  squares = squares.reshape(-1, c).sum(axis=0)
  count = images.size // c
  mean = total.astype(np.float64) / count / 255.0
  var = squares.astype(np.float64) / count / 255.0**2 - mean**2
  std = np.sqrt(np.maximum(var, 0.0))
  return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def _make_dataset(name: str, train: Split, test: Split,
                  class_names: Sequence[str]) -> Dataset:
  mean, std = channel_stats(train.images)
  return Dataset(name=name, train=train, test=test,
                 class_names=[str(c) for c in class_names], mean=mean,
                 std=std)


def _log_split(name: str, split: str, s: Split, num_classes: int,
               seconds: float):
  logging.info("Loaded %s %s: %d images of shape %s, %d classes, %.2f s",
               name, split, len(s.labels), tuple(s.images.shape[1:]),
               num_classes, seconds)

