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
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import difflib
import importlib
import importlib.resources
import importlib.resources.abc
import importlib.util
import inspect
import io
import mmap
import os
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse
import zipfile
import zlib
from typing import Optional, Sequence

from absl import logging
import numpy as np
from PIL import Image

__all__ = [
    "DataError", "Split", "Dataset", "load", "image_folder", "synthetic",
    "tfds_dataset", "subsample", "channel_stats", "SYNTHETIC_CLASSES",
    "IMAGE_EXTENSIONS", "MAX_IMAGE_SIDE", "MAX_ZIP_BYTES", "MAX_ZIP_RATIO",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")  # matched case-insensitively
MAX_IMAGE_SIDE = 4096          # pixels; larger images are refused
MAX_ZIP_BYTES = 20 * 2**30     # total uncompressed size of a zip
MAX_ZIP_RATIO = 1000           # uncompressed / compressed size of a member
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


# ----------------------------------------------------------------------------
# Entry point and shared helpers.
# ----------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------
# Local image folder or zip.
# ----------------------------------------------------------------------------

class _DirTree:
  """Read access to an image folder on disk, by '/'-separated relative path."""

  def __init__(self, root: str):
    self.root = root

  def listdir(self, rel: str) -> tuple[list[str], list[str]]:
    """Sorted (subfolder names, file names) of the folder ``rel``."""
    dirs, files = [], []
    with os.scandir(os.path.join(self.root, rel)) as it:
      for entry in it:
        (dirs if entry.is_dir() else files).append(entry.name)
    return sorted(dirs), sorted(files)

  def isdir(self, rel: str) -> bool:
    return os.path.isdir(os.path.join(self.root, rel))

  def read(self, rel: str) -> bytes:
    with open(os.path.join(self.root, rel), "rb") as f:
      return f.read()

  def where(self, rel: str) -> str:
    return os.path.join(self.root, rel)

  def close(self):
    pass


class _ZipTree:
  """Read access to the members of a zip, checked against zip bombs.

  Stored and deflated members are read straight from a memory map of the
  archive (many times faster than ``ZipFile.read`` for tens of thousands of
  small members, and lock-free across threads); CRCs are checked. Other
  members go through ``ZipFile.read``.
  """

  def __init__(self, path: str):
    self.root = path
    try:
      self._zip = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
      raise DataError(f"cannot open zip {path}: {e}. Check that the file is "
                      f"a complete, valid zip archive.") from e
    self._check_sizes(self._zip.infolist())
    try:
      with open(path, "rb") as f:
        self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # e.g. a file system without mmap
      self._map = None
    self._infos = {}
    self._children = collections.defaultdict(lambda: (set(), set()))
    for info in self._zip.infolist():
      name = info.filename.strip("/")
      if not name:
        continue
      parts = name.split("/")
      for depth in range(1, len(parts)):  # folders implied by the path
        self._children["/".join(parts[:depth - 1])][0].add(parts[depth - 1])
      parent = "/".join(parts[:-1])
      if info.is_dir():
        self._children[parent][0].add(parts[-1])
        self._children[name]  # pylint: disable=pointless-statement
      else:
        self._children[parent][1].add(parts[-1])
        self._infos[name] = info

  def _check_sizes(self, infos):
    """Zip-bomb guard, from the central directory (nothing decompressed)."""
    total = sum(i.file_size for i in infos)
    if total > MAX_ZIP_BYTES:
      raise DataError(
          f"zip {self.root} would decompress to {total / 2**30:.1f} GiB, over "
          f"the {MAX_ZIP_BYTES / 2**30:.0f} GiB limit (a guard against zip "
          f"bombs). Split the dataset or extract it and pass the folder.")
    for info in infos:
      ratio = info.file_size / max(info.compress_size, 1)
      if info.file_size > 2**20 and ratio > MAX_ZIP_RATIO:
        raise DataError(
            f"zip {self.root} member {info.filename} would expand "
            f"{ratio:.0f}x ({info.compress_size} -> {info.file_size} bytes), "
            f"over the {MAX_ZIP_RATIO}x limit (a guard against zip bombs). "
            f"Remove that member or rebuild the zip from real image files.")

  def listdir(self, rel: str) -> tuple[list[str], list[str]]:
    dirs, files = self._children.get(rel.strip("/"), (set(), set()))
    return sorted(dirs), sorted(files)

  def isdir(self, rel: str) -> bool:
    return rel.strip("/") in self._children

  def read(self, rel: str) -> bytes:
    info = self._infos[rel]
    if (self._map is None or info.flag_bits & 0x1 or
        info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)):
      return self._zip.read(info)  # encrypted or unusual: zipfile decides
    offset = info.header_offset
    header = self._map[offset:offset + 30]
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
      raise OSError("bad local file header")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    start = offset + 30 + name_len + extra_len
    data = self._map[start:start + info.compress_size]
    if len(data) != info.compress_size:
      raise OSError("member truncated")
    if info.compress_type == zipfile.ZIP_DEFLATED:
      inflate = zlib.decompressobj(-15)
      data = inflate.decompress(data, info.file_size + 1)
    if len(data) != info.file_size or zlib.crc32(data) != info.CRC:
      raise OSError("size or CRC mismatch, the member is corrupt")
    return data

  def where(self, rel: str) -> str:
    return f"{self.root}:{rel}"

  def close(self):
    if self._map is not None:
      self._map.close()
    self._zip.close()


@dataclasses.dataclass
class _Listing:
  """Image files of one split (relative paths) and their labels."""
  files: list[str]
  labels: list[int]


def _junk(name: str) -> bool:
  """Hidden entries and macOS archive metadata, never data."""
  return name.startswith(".") or name == "__MACOSX"


def _is_image(name: str) -> bool:
  return name.lower().endswith(IMAGE_EXTENSIONS) and not _junk(name)


def _find_root(tree, path: str) -> str:
  """The folder holding train/ and test/: the root or its only subfolder."""
  dirs, _ = tree.listdir("")
  dirs = [d for d in dirs if not _junk(d)]
  if any(d in _SPLITS for d in dirs):
    prefix = ""
  elif len(dirs) == 1:
    prefix = dirs[0] + "/"
  else:
    shown = ", ".join(dirs[:10]) or "no folders"
    raise DataError(
        f"{path} has no train/ and test/ folders, neither at its root nor "
        f"under a single top-level folder (found: {shown}). Arrange the "
        f"images as train/<class>/<image> and test/<class>/<image>.")
  for split in _SPLITS:
    if not tree.isdir(prefix + split):
      raise DataError(
          f"{path} has no {prefix}{split}/ folder. An image folder needs "
          f"both {prefix}train/<class>/<image> and {prefix}test/<class>/"
          f"<image>; add the missing split.")
  return prefix


def _list_split(tree, prefix: str, split: str, skipped: list[str]
                ) -> tuple[list[str], dict[str, list[str]]]:
  """Class folder names and their image files (sorted) of one split."""
  base = prefix + split
  dirs, files = tree.listdir(base)
  skipped.extend(f"{base}/{f}" for f in files)
  skipped.extend(f"{base}/{d}/" for d in dirs if _junk(d))
  classes = [d for d in dirs if not _junk(d)]
  if not classes:
    raise DataError(
        f"{tree.where(base)} has no class folders. Put the {split} images in "
        f"one folder per class: {base}/<class>/<image>.")
  images = {}
  for c in classes:
    sub_dirs, sub_files = tree.listdir(f"{base}/{c}")
    skipped.extend(f"{base}/{c}/{d}/" for d in sub_dirs)
    images[c] = [f"{base}/{c}/{f}" for f in sub_files if _is_image(f)]
    skipped.extend(f"{base}/{c}/{f}" for f in sub_files if not _is_image(f))
  if not any(images.values()):
    raise DataError(
        f"{tree.where(base)} has class folders but no images (.png, .jpg or "
        f".jpeg) in them. Add the {split} images or fix the path.")
  for c in classes:
    if not images[c]:
      logging.warning("Class folder %s has no images.",
                      tree.where(f"{base}/{c}"))
  return classes, images


def _scan(tree, path: str) -> tuple[list[str], dict[str, _Listing]]:
  """Class names and per-split listings of an image folder tree."""
  prefix = _find_root(tree, path)
  skipped = []
  _, top_files = tree.listdir(prefix)
  skipped.extend(prefix + f for f in top_files)
  found = {s: _list_split(tree, prefix, s, skipped) for s in _SPLITS}
  train_classes, test_classes = found["train"][0], found["test"][0]
  if train_classes != test_classes:
    only_train = sorted(set(train_classes) - set(test_classes))
    only_test = sorted(set(test_classes) - set(train_classes))
    raise DataError(
        f"class folders differ between {prefix}train/ and {prefix}test/ in "
        f"{path}: only in train: {only_train or 'none'}; only in test: "
        f"{only_test or 'none'}. Both splits need the same class folders "
        f"(an empty folder is allowed).")
  if skipped:
    logging.warning("Skipped %d non-image entries in %s (e.g. %s); only "
                    "%s files in train/<class>/ and test/<class>/ are read.",
                    len(skipped), path, ", ".join(skipped[:3]),
                    "/".join(IMAGE_EXTENSIONS))
  listings = {}
  for split in _SPLITS:
    files, labels = [], []
    for label, c in enumerate(train_classes):
      files.extend(found[split][1][c])
      labels.extend([label] * len(found[split][1][c]))
    listings[split] = _Listing(files, labels)
  return train_classes, listings


def _open_tree(path: str):
  if not os.path.exists(path):
    raise DataError(
        f"data path {path} does not exist. Pass an existing image folder or "
        f".zip (train/<class>/*, test/<class>/*) as --config.data.path, or "
        f"leave it empty to use config.data.name.")
  if os.path.isdir(path):
    return _DirTree(path)
  if not zipfile.is_zipfile(path):
    raise DataError(
        f"data path {path} is a file but not a zip archive. Pass a folder or "
        f"a .zip of one holding train/<class>/* and test/<class>/*.")
  return _ZipTree(path)


class _SizeError(Exception):
  """An image whose size differs from the reference image's."""

  def __init__(self, where: str, size: tuple[int, int]):
    super().__init__(where, size)
    self.where, self.size = where, size


def _read(tree, rel: str) -> bytes:
  try:
    return tree.read(rel)
  except (OSError, zipfile.BadZipFile, zlib.error) as e:
    raise DataError(f"cannot read {tree.where(rel)}: {e}. Check the file (or "
                    f"rebuild the zip) and its permissions.") from e


def _decode(data: bytes, where: str) -> tuple[np.ndarray, Optional[str]]:
  """Decodes one image to uint8 RGB; returns it and its mode if converted."""
  try:
    with Image.open(io.BytesIO(data)) as im:
      width, height = im.size
      if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
        raise DataError(_too_large(where, f"{width}x{height}"))
      im.load()
      mode = im.mode
      if mode == "RGB":
        return np.asarray(im), None
      if mode.startswith("I;16"):  # 16-bit grayscale: keep the high byte
        gray = (np.asarray(im, np.uint16) >> 8).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1), mode
      return np.asarray(im.convert("RGB")), mode
  except DataError:
    raise
  except Image.DecompressionBombError as e:
    raise DataError(_too_large(where, "very large")) from e
  except Exception as e:  # pylint: disable=broad-except
    raise DataError(
        f"cannot decode image {where}: {type(e).__name__}: {e}. The file is "
        f"corrupt or not really an image: replace or delete it.") from e


def _too_large(where: str, size: str) -> str:
  return (f"image {where} is {size} pixels, larger than the "
          f"{MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} limit. Resize it (this toolkit "
          f"trains on small images) or remove it.")


def _decode_all(tree, files: list[str], size: tuple[int, int],
                converted: collections.Counter) -> np.ndarray:
  """Decodes files into ``[N, H, W, 3]`` in a thread pool.

  Every image must be ``size`` (height, width). The first error stops the
  remaining work and is raised.
  """
  n = len(files)
  out = np.empty((n, size[0], size[1], 3), np.uint8)
  stop = threading.Event()

  def work(lo: int, hi: int) -> collections.Counter:
    modes = collections.Counter()
    for i in range(lo, hi):
      if stop.is_set():
        break
      rel = files[i]
      image, mode = _decode(_read(tree, rel), tree.where(rel))
      if image.shape[:2] != size:
        raise _SizeError(tree.where(rel), image.shape[:2])
      out[i] = image
      if mode:
        modes[mode] += 1
    return modes

  workers = min(8, os.cpu_count() or 1)
  chunk = max(16, min(512, -(-n // (4 * workers))))
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    futures = [pool.submit(work, lo, min(n, lo + chunk))
               for lo in range(0, n, chunk)]
    done, _ = concurrent.futures.wait(
        futures, return_when=concurrent.futures.FIRST_EXCEPTION)
    failed = [f for f in futures if f in done and f.exception()]
    if failed:
      stop.set()
      for f in futures:
        f.cancel()
      raise failed[0].exception()
    for f in futures:
      converted.update(f.result())
  return out


def image_folder(path: str, max_train: int = 0, max_test: int = 0) -> Dataset:
  """Loads an image folder or a zip of one.

  Layout: ``train/<class>/<image>`` and ``test/<class>/<image>`` (png, jpg,
  jpeg in any letter case) at the root, or under one top-level folder. Class
  folders must match between the splits; labels index the sorted names.
  Images must all have one size, at most ``MAX_IMAGE_SIDE`` on a side;
  grayscale, palette and RGBA images are converted to RGB (alpha dropped).
  Other files are skipped with one warning.

  Args:
    path: the folder or ``.zip``.
    max_train: keep this many train images (0 = all), see ``subsample``.
    max_test: the same for the test split.

  Returns:
    The ``Dataset``, named ``path``.

  Raises:
    DataError: the path, the layout or an image is unusable.
  """
  path = os.fspath(path)
  start = time.perf_counter()
  tree = _open_tree(path)
  try:
    classes, listings = _scan(tree, path)
    converted = collections.Counter()
    splits = {}
    reference = None  # (where, (height, width)) of the first image read
    for split, max_n in (("train", max_train), ("test", max_test)):
      listing = listings[split]
      idx = subsample(len(listing.files), max_n)
      files = [listing.files[i] for i in idx]
      labels = np.asarray(listing.labels, np.int32)[idx]
      if reference is None:
        first, _ = _decode(_read(tree, files[0]), tree.where(files[0]))
        reference = (tree.where(files[0]), first.shape[:2])
      try:
        images = _decode_all(tree, files, reference[1], converted)
      except _SizeError as e:
        raise DataError(
            f"images in {path} differ in size: {reference[0]} is "
            f"{_wxh(reference[1])} but {e.where} is {_wxh(e.size)} (width x "
            f"height). Resize all images to one size first.") from None
      splits[split] = Split(images, labels)
      _log_split(path, split, splits[split], len(classes),
                 time.perf_counter() - start)
      start = time.perf_counter()
  finally:
    tree.close()
  if converted:
    logging.info("Converted %d images to RGB (%s) in %s.",
                 sum(converted.values()),
                 ", ".join(f"{n} {m}" for m, n in sorted(converted.items())),
                 path)
  return _make_dataset(path, splits["train"], splits["test"], classes)


def _wxh(size: tuple[int, int]) -> str:
  return f"{size[1]}x{size[0]}"


# ----------------------------------------------------------------------------
# Synthetic shapes.
# ----------------------------------------------------------------------------

SYNTHETIC_CLASSES = (
    "disc", "square", "triangle", "ring", "plus", "diagonal cross",
    "horizontal bars", "vertical bars", "diagonal stripes", "checkerboard")
_SYNTH_SIZE = 32


def _shape_masks(label: int, dy: np.ndarray, dx: np.ndarray,
                 py: np.ndarray, px: np.ndarray, period: np.ndarray,
                 thick: np.ndarray, flip: np.ndarray) -> np.ndarray:
  """Foreground masks ``[n, S, S]`` of one class.

  ``dy, dx``: offsets from the centre in units of the shape's half-size;
  ``py, px``: the same in pixels (stripe phase included); ``period``,
  ``thick``, ``flip``: per-image stripe period (pixels), stroke half-width
  (half-size units) and orientation switch, all broadcast as ``[n, 1, 1]``.
  """
  box = np.maximum(np.abs(dx), np.abs(dy))
  if label == 0:  # disc
    return dx * dx + dy * dy <= 0.85
  if label == 1:  # square
    return box <= 0.75
  if label == 2:  # triangle, apex up, down, left or right
    along = np.where(flip % 2 == 0, dy, dx)
    across = np.where(flip % 2 == 0, dx, dy)
    along = np.where(flip >= 2, -along, along)
    return (along >= -0.9) & (along <= 0.75) & (
        np.abs(across) <= (along + 0.9) * 0.6)
  if label == 3:  # ring
    d2 = dx * dx + dy * dy
    return (d2 <= 1.0) & (d2 >= 0.36)
  if label == 4:  # plus
    return ((np.abs(dx) <= thick) | (np.abs(dy) <= thick)) & (box <= 0.9)
  if label == 5:  # diagonal cross (an X)
    return ((np.abs(dx - dy) <= 1.4 * thick) |
            (np.abs(dx + dy) <= 1.4 * thick)) & (box <= 0.8)
  stripe = lambda t: (np.floor(t / period) % 2) == 0
  if label == 6:  # horizontal bars
    return stripe(py) & (box <= 0.85)
  if label == 7:  # vertical bars
    return stripe(px) & (box <= 0.85)
  if label == 8:  # diagonal stripes, either diagonal
    return stripe(np.where(flip % 2 == 0, px + py, px - py) / 1.4) & (
        box <= 0.85)
  if label == 9:  # checkerboard
    return ((np.floor(px / period) + np.floor(py / period)) % 2 == 0) & (
        box <= 0.85)
  raise ValueError(f"no synthetic class {label}")


def _draw_shapes(rng: np.random.Generator, n: int) -> tuple[np.ndarray,
                                                              np.ndarray]:
  """``n`` synthetic images (uint8 ``[n, 32, 32, 3]``) and labels (int32)."""
  s = _SYNTH_SIZE
  k = len(SYNTHETIC_CLASSES)
  labels = rng.permutation(np.arange(n) % k).astype(np.int32)
  half = rng.uniform(6.0, 12.0, n)  # half-size in pixels
  margin = 0.8 * half
  cy = rng.uniform(margin, s - margin)
  cx = rng.uniform(margin, s - margin)
  period = rng.integers(2, 5, n).astype(np.float64)  # stripe width, pixels
  phase = rng.uniform(0.0, 1.0, (n, 2)) * period[:, None] * 2
  thick = rng.uniform(0.2, 0.35, n)
  flip = rng.integers(0, 4, n)
  # Colours: background uniform, foreground shifted from it by 48..208 per
  # channel (mod 256), so both are uniform and alike in distribution: colour
  # and mean intensity carry no class information, contrast stays visible.
  bg = rng.uniform(0.0, 256.0, (n, 3)).astype(np.float32)
  fg = (bg + rng.uniform(48.0, 208.0, (n, 3)).astype(np.float32)) % 256.0
  # Low-frequency background shading and pixel noise.
  grad = rng.normal(0.0, 20.0, (n, 2, 3)).astype(np.float32)
  noise_sd = rng.uniform(8.0, 24.0, n).astype(np.float32)

  images = np.empty((n, s, s, 3), np.uint8)
  grid = (np.arange(s, dtype=np.float64) + 0.5)
  for lo in range(0, n, 2048):
    sl = slice(lo, min(n, lo + 2048))
    m = sl.stop - sl.start
    col = lambda a: a[sl, None, None]  # [m, 1, 1]
    py = grid[None, :, None] - col(cy)  # [m, S, 1]
    px = grid[None, None, :] - col(cx)  # [m, 1, S]
    py, px = np.broadcast_arrays(py, px)
    dy, dx = py / col(half), px / col(half)
    mask = np.zeros((m, s, s), bool)
    for label in range(k):
      sel = np.nonzero(labels[sl] == label)[0]
      if sel.size:
        mask[sel] = _shape_masks(
            label, dy[sel], dx[sel], py[sel] + col(phase[:, 0])[sel],
            px[sel] + col(phase[:, 1])[sel], col(period)[sel],
            col(thick)[sel], col(flip)[sel])
    ramp = ((grid - s / 2) / s).astype(np.float32)  # [-0.5, 0.5]
    shade = (ramp[None, :, None, None] * grad[sl, None, None, 0] +
             ramp[None, None, :, None] * grad[sl, None, None, 1])
    img = np.where(mask[..., None], fg[sl, None, None], bg[sl, None, None])
    img = img + shade + rng.standard_normal(
        (m, s, s, 3), dtype=np.float32) * noise_sd[sl, None, None, None]
    images[sl] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
  return images, labels


def synthetic(num_train: int = 10000, num_test: int = 2000,
              seed: int = 0) -> Dataset:
  """The embedded synthetic dataset: 10 shapes on noisy backgrounds.

  32x32 RGB. Each image holds one shape (class names in
  ``SYNTHETIC_CLASSES``) at a random position and size, in a random colour on
  a random background colour with shading and noise. Colours are drawn the
  same way for every class, so only the spatial structure tells the class
  apart. Classes are balanced (counts differ by at most one). Train and test
  come from independent streams derived from ``seed``.

  Args:
    num_train: train split size (>= 1).
    num_test: test split size (>= 1).
    seed: generator seed (>= 0).

  Returns:
    The ``Dataset``, named ``"synthetic"``.
  """
  for key, value in (("synthetic_train", num_train),
                     ("synthetic_test", num_test)):
    if value < 1:
      raise DataError(f"config.data.{key} must be >= 1, got {value}")
  splits = {}
  for i, (split, n) in enumerate((("train", num_train), ("test", num_test))):
    start = time.perf_counter()
    rng = np.random.default_rng([int(seed), i])
    splits[split] = Split(*_draw_shapes(rng, n))
    _log_split("synthetic", split, splits[split], len(SYNTHETIC_CLASSES),
               time.perf_counter() - start)
  return _make_dataset("synthetic", splits["train"], splits["test"],
                       SYNTHETIC_CLASSES)


# ----------------------------------------------------------------------------
# TFDS (no TensorFlow needed to read prepared array_record data).
# ----------------------------------------------------------------------------

PROBE_TIMEOUT_S = 5.0   # network reachability check before a download
DOWNLOAD_RETRIES = 2    # TFDS's own default (10, with backoff) takes minutes
_FALLBACK_HOST = "storage.googleapis.com"


def _import_tfds():
  try:
    return importlib.import_module("tensorflow_datasets")
  except Exception as e:  # pylint: disable=broad-except
    raise DataError(
        f"cannot import tensorflow_datasets ({type(e).__name__}: {e}), "
        f"needed for TFDS datasets. Install it (pip install "
        f"tensorflow-datasets) or use another source. {_ALTERNATIVES}") from e


def _tensorflow_available() -> bool:
  return importlib.util.find_spec("tensorflow") is not None


def _dir_text(data_dir: str) -> str:
  return data_dir or ("the TFDS default data dir ($TFDS_DATA_DIR or "
                      "~/tensorflow_datasets)")


def _builder(tfds, name: str, data_dir: str):
  """``tfds.builder`` with its errors turned into DataErrors."""
  try:
    return tfds.builder(name, data_dir=data_dir or None)
  except Exception as e:  # pylint: disable=broad-except
    if (type(e).__name__ == "DatasetNotFoundError" or
        "Parsing builder name" in str(e)):
      raise DataError(
          f"'{name}' is not a TFDS dataset.{_did_you_mean(tfds, name)} Name "
          f"a TFDS image classification dataset (e.g. cifar10, cifar100, "
          f"mnist) or 'synthetic'. {_ALTERNATIVES}") from None
    raise DataError(
        f"TFDS cannot set up dataset '{name}' in {_dir_text(data_dir)}: "
        f"{_brief(e)} Check the name (and config/version). "
        f"{_ALTERNATIVES}") from e


def _did_you_mean(tfds, name: str) -> str:
  try:  # community datasets would need TensorFlow and the network
    known = tfds.list_builders(with_community_datasets=False)
  except Exception:  # pylint: disable=broad-except
    return ""
  base = re.split(r"[/:]", name)[0]
  close = difflib.get_close_matches(base, known, n=3, cutoff=0.75)
  return f" Did you mean {', '.join(close)}?" if close else ""


def _brief(e: BaseException, limit: int = 300) -> str:
  """An exception as one line: its type and a shortened message."""
  text = " ".join(str(e).split())
  if len(text) > limit:
    text = text[:limit] + "..."
  return f"{type(e).__name__}: {text}"


# Hosts named in builder sources that serve no data (license headers, papers).
_NOT_DOWNLOAD_HOSTS = ("www.apache.org", "arxiv.org", "dblp.org", "doi.org")


def _download_hosts(builder) -> list[str]:
  """Hosts a builder downloads from, from URLs in its source code."""
  hosts = []
  try:
    source = inspect.getsource(sys.modules[type(builder).__module__])
  except Exception:  # pylint: disable=broad-except
    source = ""
  for host in re.findall(r"https?://([A-Za-z0-9.-]+)", source):
    if host not in hosts and host not in _NOT_DOWNLOAD_HOSTS:
      hosts.append(host)
  return hosts[:8] or [_FALLBACK_HOST]


def _proxy() -> Optional[tuple[str, int]]:
  for key in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
    if os.environ.get(key):
      url = urllib.parse.urlsplit(os.environ[key])
      if url.hostname:
        return url.hostname, url.port or (443 if url.scheme == "https" else 80)
  return None


def _probe_network(hosts: Sequence[str], timeout: float = PROBE_TIMEOUT_S,
                   port: int = 443) -> Optional[str]:
  """None if one of ``hosts`` accepts a connection on ``port`` in time.

  Otherwise a short reason. Goes to the HTTPS proxy instead when one is set.
  Each attempt runs in a daemon thread, so a hanging DNS lookup cannot hold
  the caller past ``timeout``.
  """
  targets = [_proxy()] if _proxy() else [(h, port) for h in hosts]
  errors = {}
  reached = threading.Event()

  def attempt(target):
    try:
      socket.create_connection(target, timeout=timeout).close()
      reached.set()
    except OSError as e:
      errors[target] = e

  threads = [threading.Thread(target=attempt, args=(t,), daemon=True)
             for t in targets]
  for t in threads:
    t.start()
  deadline = time.monotonic() + timeout
  while (not reached.is_set() and len(errors) < len(targets)
         and time.monotonic() < deadline):
    reached.wait(0.05)
  if reached.is_set():
    return None
  shown = ", ".join(f"{h}:{p}" for h, p in targets[:3])
  if len(targets) > 3:
    shown += f" and {len(targets) - 3} more"
  first = next((errors[t] for t in targets if t in errors), None)
  why = (f"{type(first).__name__}: {first}" if first is not None
         else f"no answer in {timeout:.0f} s")
  return f"cannot reach {shown} ({why})"


def _ensure_importlib_resources():
  """TFDS 4.9.x needs ``importlib_resources`` to prepare data; newer etils no
  longer installs it. The stdlib module has the same API (Python >= 3.9)."""
  if importlib.util.find_spec("importlib_resources") is None:
    sys.modules.setdefault("importlib_resources", importlib.resources)


def _prepare(tfds, builder, name: str, data_dir: str):
  """Downloads and prepares a dataset in array_record format, failing fast."""
  where = _dir_text(data_dir)
  has_tf = _tensorflow_available()
  no_tf = ("TFDS also needs TensorFlow to prepare a dataset (it reads "
           "prepared data without it), and TensorFlow is not installed.")
  prepare_elsewhere = (
      f"To prepare it: pip install tensorflow, then rerun; or on a machine "
      f"with TensorFlow and internet run `tfds build {name} "
      f"--file_format=array_record --data_dir=DIR`, copy DIR here and pass "
      f"--config.data.tfds_data_dir=DIR.")
  unreachable = _probe_network(_download_hosts(builder))
  if unreachable:
    raise DataError(
        f"TFDS dataset '{name}' is not prepared in {where} and could not be "
        f"downloaded: {unreachable} (offline?). "
        + ("" if has_tf else no_tf + " ") + prepare_elsewhere + " "
        + _ALTERNATIVES)
  if not has_tf:
    raise DataError(
        f"TFDS dataset '{name}' is not prepared in {where} and cannot be "
        f"downloaded and prepared here: {no_tf} {prepare_elsewhere} "
        + _ALTERNATIVES)
  _ensure_importlib_resources()
  downloader = sys.modules.get("tensorflow_datasets.core.download.downloader")
  saved = getattr(downloader, "MAX_RETRIES", None)
  start = time.perf_counter()
  try:
    if saved is not None:
      downloader.MAX_RETRIES = DOWNLOAD_RETRIES
    builder = tfds.builder(name, data_dir=data_dir or None,
                           file_format="array_record")
    logging.info("Downloading and preparing TFDS dataset %s into %s.", name,
                 where)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
  except DataError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    network = _is_network_error(e)
    raise DataError(
        f"TFDS dataset '{name}' could not be "
        f"{'downloaded' if network else 'downloaded and prepared'} into "
        f"{where} after {time.perf_counter() - start:.0f} s: {_brief(e)}. "
        + ("Check the network. " if network else "")
        + prepare_elsewhere + " " + _ALTERNATIVES) from e
  finally:
    if saved is not None:
      downloader.MAX_RETRIES = saved
  return builder


def _is_network_error(e: Optional[BaseException]) -> bool:
  """Whether ``e`` or an exception it came from is a network failure."""
  seen = 0
  while e is not None and seen < 20:
    module = type(e).__module__ or ""
    if isinstance(e, (ConnectionError, TimeoutError, socket.gaierror,
                      socket.herror)) or module.startswith(
                          ("requests", "urllib3", "urllib.error",
                           "http.client")):
      return True
    e, seen = e.__cause__ or e.__context__, seen + 1
  return False


def _read_source(source, indices: np.ndarray, name: str,
                 split: str) -> tuple[np.ndarray, np.ndarray]:
  """Images (uint8 RGB) and labels of ``indices`` from a TFDS data source."""
  n = len(indices)
  images, labels = None, np.empty(n, np.int32)
  getitems = getattr(source, "__getitems__", None)
  for lo in range(0, n, 1024):
    chunk = [int(i) for i in indices[lo:lo + 1024]]
    examples = getitems(chunk) if getitems else [source[i] for i in chunk]
    for j, example in enumerate(examples, start=lo):
      image = np.asarray(example["image"])
      if image.ndim == 2:
        image = image[..., None]
      if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise DataError(
            f"TFDS {name} {split} example {indices[j]} has image shape "
            f"{image.shape}; need [H, W, 1] or [H, W, 3]. Use an RGB or "
            f"grayscale dataset. {_ALTERNATIVES}")
      if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
      if images is None:
        images = np.empty((n,) + image.shape, np.uint8)
      if image.shape != images.shape[1:]:
        raise DataError(
            f"TFDS {name} {split} images differ in size ({images.shape[1:]} "
            f"and {image.shape} at example {indices[j]}); only fixed-size "
            f"datasets are supported. {_ALTERNATIVES}")
      images[j] = image.astype(np.uint8, copy=False)
      labels[j] = int(example["label"])
  return images, labels


def tfds_dataset(name: str, data_dir: str = "", max_train: int = 0,
                 max_test: int = 0) -> Dataset:
  """Loads a TFDS image classification dataset without TensorFlow.

  Reads data prepared in array_record format through ``as_data_source``. If
  the dataset is not prepared, it is downloaded and prepared only when the
  download host answers within ``PROBE_TIMEOUT_S`` and TensorFlow (which
  TFDS needs to prepare data) is installed; otherwise a DataError says so at
  once, naming the alternatives.

  Args:
    name: TFDS name, e.g. ``cifar10`` (``name/config:version`` accepted).
    data_dir: TFDS data dir ("" = TFDS default).
    max_train: keep this many train images (0 = all), see ``subsample``.
    max_test: the same for the test split.

  Returns:
    The ``Dataset``, named ``name``.
  """
  tfds = _import_tfds()
  start = time.perf_counter()
  builder = _builder(tfds, name, data_dir)
  if not builder.is_prepared():
    builder = _prepare(tfds, builder, name, data_dir)
  features = builder.info.features
  missing = [k for k in ("image", "label") if k not in features]
  if missing:
    raise DataError(
        f"TFDS dataset '{name}' has no {' or '.join(missing)} feature "
        f"(features: {', '.join(features.keys())}); need an image "
        f"classification dataset with 'image' and 'label'. {_ALTERNATIVES}")
  shape = tuple(getattr(features["image"], "shape", ()) or ())
  if len(shape) == 3 and None in shape[:2]:
    raise DataError(
        f"TFDS dataset '{name}' has images of varying size {shape}; only "
        f"fixed-size datasets are supported. {_ALTERNATIVES}")
  available = list(builder.info.splits.keys())
  for split in _SPLITS:
    if split not in available:
      raise DataError(
          f"TFDS dataset '{name}' has no '{split}' split (splits: "
          f"{', '.join(available)}); need train and test. {_ALTERNATIVES}")
  label = features["label"]
  num_classes = int(getattr(label, "num_classes", 0) or 0)
  class_names = list(getattr(label, "names", None) or
                     [str(i) for i in range(num_classes)])
  splits = {}
  for split, max_n in (("train", max_train), ("test", max_test)):
    try:
      source = builder.as_data_source(split=split)
    except NotImplementedError as e:
      raise DataError(
          f"TFDS dataset '{name}' is prepared in {builder.data_dir} in "
          f"{getattr(builder.info.file_format, 'value', '?')} format, which "
          f"has no random access "
          f"data source (tfrecord is readable only with TensorFlow). "
          f"Prepare it again in "
          f"array_record format (`tfds build {name} --file_format="
          f"array_record --data_dir=DIR`) or point --config.data."
          f"tfds_data_dir elsewhere. {_ALTERNATIVES}") from e
    idx = subsample(len(source), max_n)
    images, labels = _read_source(source, idx, name, split)
    if images is None:
      raise DataError(f"TFDS dataset '{name}' split '{split}' is empty in "
                      f"{builder.data_dir}. {_ALTERNATIVES}")
    splits[split] = Split(images, labels)
    _log_split(name, split, splits[split], len(class_names),
               time.perf_counter() - start)
    start = time.perf_counter()
  if not class_names:
    class_names = [str(i) for i in range(int(splits["train"].labels.max()) +
                                         1)]
  return _make_dataset(name, splits["train"], splits["test"], class_names)
