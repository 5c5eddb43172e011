"""Datasets: a local image folder or zip, an embedded synthetic set, or TFDS.

Public API (stable names). ``load(config)`` returns a ``Dataset`` of uint8
images held in memory; every problem a user can cause or fix raises
``DataError`` with one message that says what is wrong, where, and what to do.

Sources, chosen by ``config`` (the ``data`` section of the run config)
  ``path``   a directory, or a ``.zip`` of one, holding ``train/<class>/*`` and
             ``test/<class>/*`` png/jpg/jpeg images (at the root or under one
             top-level folder). Labels are indices into the sorted class
             folder names. Wins over ``name`` when set.
  ``name == "synthetic"``  shapes drawn by NumPy from ``seed``: 32x32 RGB, 10
             classes that differ by shape, never by colour (see ``synthetic``).
  ``name``   any other value: a TFDS image classification dataset with
             ``image`` and ``label`` features and ``train``/``test`` splits,
             read through TFDS's TensorFlow-free data source API from
             ``tfds_data_dir`` (prepared in array_record format).

``max_train`` / ``max_test`` (0 = all) keep the first N images of a fixed
permutation (NumPy, seed 0) of each split, so a shrunk split is a random,
roughly class-balanced subset. Only the kept images are decoded.

Functions
  ``load(config)``                     the dataset named by a config.
  ``image_folder(path, max_train, max_test)``  a local folder or zip.
  ``synthetic(num_train, num_test, seed)``     the embedded synthetic set.
  ``tfds_dataset(name, data_dir, max_train, max_test)``  a TFDS dataset.
  ``subsample(n, max_n)``              the kept indices of an n-image split.
  ``channel_stats(images)``            per-channel mean and std in [0, 1].

Modules
  ``types``        ``DataError``, ``Split``, ``Dataset`` and shared helpers.
  ``folder``       local image folders and zips.
  ``shapes``       the embedded synthetic shapes (``synthetic()``).
  ``tfds_source``  TFDS datasets.
  ``load`` lives here. Constants such as ``MAX_ZIP_BYTES`` are re-exported
  copies: to change one at run time, set it on the module that defines it
  (e.g. ``mdr.data.folder``).
"""

from __future__ import annotations

import numpy as np

from mdr.data.folder import IMAGE_EXTENSIONS
from mdr.data.folder import image_folder
from mdr.data.folder import MAX_IMAGE_SIDE
from mdr.data.folder import MAX_ZIP_BYTES
from mdr.data.folder import MAX_ZIP_RATIO
from mdr.data.shapes import synthetic
from mdr.data.shapes import SYNTHETIC_CLASSES
from mdr.data.tfds_source import DOWNLOAD_RETRIES
from mdr.data.tfds_source import PROBE_TIMEOUT_S
from mdr.data.tfds_source import tfds_dataset
from mdr.data.types import _ALTERNATIVES
from mdr.data.types import _limit
from mdr.data.types import channel_stats
from mdr.data.types import DataError
from mdr.data.types import Dataset
from mdr.data.types import Split
from mdr.data.types import subsample
from mdr.data.types import SUBSAMPLE_SEED

__all__ = [
    "DataError", "Split", "Dataset", "load", "image_folder", "synthetic",
    "tfds_dataset", "subsample", "channel_stats", "SYNTHETIC_CLASSES",
    "IMAGE_EXTENSIONS", "MAX_IMAGE_SIDE", "MAX_ZIP_BYTES", "MAX_ZIP_RATIO",
]


def load(config) -> Dataset:
  """Loads the dataset a config names (see the module docstring).

  Args:
    config: the ``data`` section of a run config (attribute access), with
      ``name``, ``path``, ``tfds_data_dir``, ``synthetic_train``,
      ``synthetic_test``, ``seed``, ``max_train`` and ``max_test``.

  Returns:
    The ``Dataset``.

  Raises:
    DataError: the data cannot be found, read or trusted; the message says
      what to do.
  """
  path = str(_field(config, "path", "") or "")
  name = str(_field(config, "name", "cifar10") or "")
  max_train = _count(config, "max_train", 0)
  max_test = _count(config, "max_test", 0)
  if path:
    return image_folder(path, max_train=max_train, max_test=max_test)
  if name == "synthetic":
    dataset = synthetic(_count(config, "synthetic_train", 10000),
                        _count(config, "synthetic_test", 2000),
                        seed=_count(config, "seed", 0))
    return _limit(dataset, max_train, max_test)
  if not name:
    raise DataError(
        "config.data.name is empty and config.data.path is not set: name a "
        "TFDS dataset (e.g. cifar10) or 'synthetic', or set path. "
        + _ALTERNATIVES)
  data_dir = str(_field(config, "tfds_data_dir", "") or "")
  return tfds_dataset(name, data_dir=data_dir, max_train=max_train,
                      max_test=max_test)


def _field(config, key: str, default):
  return getattr(config, key, default)


def _count(config, key: str, default: int) -> int:
  value = _field(config, key, default)
  if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
      or value < 0):
    raise DataError(f"config.data.{key} must be an integer >= 0, got "
                    f"{value!r}")
  return int(value)
