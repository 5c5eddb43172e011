"""Local image folder or zip: ``train/<class>/*`` and ``test/<class>/*``."""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import io
import mmap
import os
import struct
import threading
import time
import zipfile
import zlib
from typing import Optional

from absl import logging
import numpy as np
from PIL import Image

from mdr.data.types import _SPLITS
from mdr.data.types import _log_split
from mdr.data.types import _make_dataset
from mdr.data.types import DataError
from mdr.data.types import Dataset
from mdr.data.types import Split
from mdr.data.types import subsample

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")  # matched case-insensitively
MAX_IMAGE_SIDE = 4096          # pixels; larger images are refused
MAX_ZIP_BYTES = 20 * 2**30     # total uncompressed size of a zip
MAX_ZIP_RATIO = 1000           # uncompressed / compressed size of a member


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
