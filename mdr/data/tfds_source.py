"""TFDS datasets, read without TensorFlow from prepared array_record data."""

from __future__ import annotations

import difflib
import importlib
import importlib.resources
import importlib.resources.abc
import importlib.util
import inspect
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
from typing import Optional, Sequence

from absl import logging
import numpy as np

from mdr.data.types import _ALTERNATIVES
from mdr.data.types import _SPLITS
from mdr.data.types import _log_split
from mdr.data.types import _make_dataset
from mdr.data.types import DataError
from mdr.data.types import Dataset
from mdr.data.types import Split
from mdr.data.types import subsample

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
