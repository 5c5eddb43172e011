"""Tests for mdr.data: image folders and zips, synthetic shapes, TFDS."""

import io
import socket
import sys
import time
import types
import zipfile
from pathlib import Path

import ml_collections
import numpy as np
from PIL import Image
import pytest

from mdr import data
from mdr.data import folder
from mdr.data import tfds_source

CIFAR_ZIP = Path(__file__).resolve().parents[2] / "shared/data/cifar10-jpeg.zip"
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog",
                 "frog", "horse", "ship", "truck"]
H, W = 6, 5  # image height and width in the generated trees (not square)


def _config(**overrides):
  c = ml_collections.ConfigDict(dict(
      name="synthetic", path="", tfds_data_dir="", synthetic_train=100,
      synthetic_test=50, seed=0, max_train=0, max_test=0))
  c.update(overrides)
  return c


def _rgb(seed, h=H, w=W):
  return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def _save(path, image, fmt=None, mode=None):
  path.parent.mkdir(parents=True, exist_ok=True)
  im = Image.fromarray(image) if mode is None else Image.fromarray(image, mode)
  im.save(path, format=fmt)


def _make_tree(root):
  """A small image folder. Returns the expected (train, test) of PNG files.

  Classes are created out of order (bird, ant, cat): labels must follow the
  sorted names. Each expected entry is (label, array or None for JPEG).
  """
  train, test = [], []
  a1, a2 = _rgb(1), _rgb(2)
  _save(root / "train/bird/b1.png", a1[..., 0], mode="L")  # grayscale
  rgba = np.concatenate([a2, np.full((H, W, 1), 7, np.uint8)], axis=-1)
  _save(root / "train/bird/b2.png", rgba, mode="RGBA")
  _save(root / "train/ant/x1.png", _rgb(3))
  _save(root / "train/ant/x2.PNG", _rgb(4), fmt="PNG")  # uppercase extension
  _save(root / "train/cat/c1.jpg", _rgb(5), fmt="JPEG")
  train += [(0, _rgb(3)), (0, _rgb(4)), (1, np.repeat(a1[..., :1], 3, -1)),
            (1, a2), (2, None)]
  palette = Image.fromarray(_rgb(6)).convert("P")  # palette image
  (root / "test/ant").mkdir(parents=True)
  palette.save(root / "test/ant/p.png")
  _save(root / "test/bird/t.png", _rgb(7))
  _save(root / "test/cat/t.JPEG", _rgb(8), fmt="JPEG")
  test += [(0, np.asarray(palette.convert("RGB"))), (1, _rgb(7)), (2, None)]
  (root / "train/README.txt").write_text("not an image")
  (root / "train/ant/.DS_Store").write_bytes(b"\0\1junk")
  (root / "test/cat/notes.txt").write_text("junk")
  return train, test


def _zip(root, zip_path, top="", compression=zipfile.ZIP_STORED,
         extra=None):
  """Zips the tree under root, optionally nested under a top folder."""
  with zipfile.ZipFile(zip_path, "w", compression) as zf:
    for path in sorted(root.rglob("*")):
      arcname = top + path.relative_to(root).as_posix()
      if path.is_dir():
        zf.writestr(arcname + "/", b"")
      else:
        zf.write(path, arcname)
    for name, content in (extra or {}).items():
      zf.writestr(name, content)
  return zip_path


def _check_split(split, expected):
  assert split.images.dtype == np.uint8 and split.labels.dtype == np.int32
  assert split.images.shape == (len(expected), H, W, 3)
  np.testing.assert_array_equal(split.labels, [e[0] for e in expected])
  for image, (_, want) in zip(split.images, expected):
    if want is not None:  # PNG: exact pixels
      np.testing.assert_array_equal(image, want)


def _raises(path_or_config, *fragments, **kwargs):
  """Loads and returns the DataError message, checking it has fragments."""
  with pytest.raises(data.DataError) as info:
    if isinstance(path_or_config, ml_collections.ConfigDict):
      data.load(path_or_config)
    else:
      data.image_folder(str(path_or_config), **kwargs)
  message = str(info.value)
  for fragment in fragments:
    assert str(fragment) in message, message
  return message


# ----------------------------------------------------------------------------
# Image folders and zips.
# ----------------------------------------------------------------------------

def test_image_folder_arrays_labels_and_stats(tmp_path):
  train, test = _make_tree(tmp_path / "tree")
  ds = data.load(_config(path=str(tmp_path / "tree"), name="ignored"))
  assert ds.class_names == ["ant", "bird", "cat"]
  assert ds.num_classes == 3 and ds.image_shape == (H, W, 3)
  assert ds.name == str(tmp_path / "tree")
  _check_split(ds.train, train)
  _check_split(ds.test, test)
  pixels = ds.train.images.reshape(-1, 3) / 255.0
  np.testing.assert_allclose(ds.mean, pixels.mean(0), rtol=1e-12)
  np.testing.assert_allclose(ds.std, pixels.std(0), rtol=1e-9)
  assert all(isinstance(v, float) for v in ds.mean + ds.std)


def test_image_folder_logs_conversions_and_skips_once(tmp_path, monkeypatch):
  _make_tree(tmp_path)
  infos, warnings = [], []
  monkeypatch.setattr(folder.logging, "info",
                      lambda *a: infos.append(a[0] % a[1:]))
  monkeypatch.setattr(folder.logging, "warning",
                      lambda *a: warnings.append(a[0] % a[1:]))
  data.image_folder(str(tmp_path))
  converted = [m for m in infos if "Converted" in m]
  assert len(converted) == 1 and converted[0].startswith("Converted 3 images")
  assert "1 L" in converted[0] and "1 P" in converted[0]
  assert "1 RGBA" in converted[0]
  skipped = [m for m in warnings if "Skipped" in m]
  assert len(skipped) == 1 and skipped[0].startswith("Skipped 3 non-image")
  loaded = [m for m in infos if m.startswith("Loaded")]
  assert len(loaded) == 2 and "5 images of shape (6, 5, 3), 3 classes" in (
      loaded[0])


@pytest.mark.parametrize("top,compression", [
    ("", zipfile.ZIP_STORED), ("mydata/", zipfile.ZIP_DEFLATED)])
def test_zip_matches_folder(tmp_path, top, compression):
  _make_tree(tmp_path / "tree")
  folder = data.image_folder(str(tmp_path / "tree"))
  extra = {"__MACOSX/mydata/._junk": b"mac"} if top else {}
  zipped = data.image_folder(str(_zip(tmp_path / "tree", tmp_path / "d.zip",
                                      top, compression, extra)))
  assert zipped.class_names == folder.class_names
  for split in ("train", "test"):
    a, b = getattr(folder, split), getattr(zipped, split)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
  assert zipped.mean == folder.mean and zipped.std == folder.std


def test_folder_nested_under_one_top_level_folder(tmp_path):
  train, _ = _make_tree(tmp_path / "outer" / "cifar")
  ds = data.image_folder(str(tmp_path / "outer"))
  _check_split(ds.train, train)


def test_max_train_decodes_only_kept_images(tmp_path):
  for i in range(10):
    _save(tmp_path / f"train/a/f{i}.png", _rgb(i))
    _save(tmp_path / f"test/a/g{i}.png", _rgb(20 + i))
  kept = data.subsample(10, 3)
  bad = min(set(range(10)) - set(kept.tolist()))
  (tmp_path / f"train/a/f{bad}.png").write_bytes(b"corrupt")
  ds = data.image_folder(str(tmp_path), max_train=3, max_test=4)
  assert len(ds.train) == 3 and len(ds.test) == 4
  for image, i in zip(ds.train.images, kept):
    np.testing.assert_array_equal(image, _rgb(int(i)))
  for image, i in zip(ds.test.images, data.subsample(10, 4)):
    np.testing.assert_array_equal(image, _rgb(20 + int(i)))
  _raises(tmp_path, f"f{bad}.png")  # all images: the corrupt one is read


def test_subsample_is_a_fixed_permutation_prefix():
  np.testing.assert_array_equal(data.subsample(5, 0), np.arange(5))
  np.testing.assert_array_equal(data.subsample(5, 9), np.arange(5))
  kept = data.subsample(1000, 100)
  np.testing.assert_array_equal(
      kept, np.random.default_rng(0).permutation(1000)[:100])
  np.testing.assert_array_equal(kept[:10], data.subsample(1000, 10))


def test_channel_stats_matches_float64():
  images = np.random.default_rng(0).integers(0, 256, (70, 9, 7, 3), np.uint8)
  mean, std = data.channel_stats(images)
  pixels = images.reshape(-1, 3).astype(np.float64) / 255
  np.testing.assert_allclose(mean, pixels.mean(0), rtol=1e-12)
  np.testing.assert_allclose(std, pixels.std(0), rtol=1e-9)


# ----------------------------------------------------------------------------
# Image folder errors: each names what is wrong and where.
# ----------------------------------------------------------------------------

def test_missing_path(tmp_path):
  _raises(tmp_path / "nope", tmp_path / "nope", "does not exist")


def test_file_that_is_not_a_zip(tmp_path):
  path = tmp_path / "data.zip"
  path.write_text("hello")
  _raises(path, path, "not a zip")


def test_missing_test_split(tmp_path):
  _save(tmp_path / "train/a/1.png", _rgb(0))
  _raises(tmp_path, tmp_path, "test/")
  _zip(tmp_path, tmp_path.parent / "only_train.zip")
  _raises(tmp_path.parent / "only_train.zip", "only_train.zip", "test/")


def test_no_train_or_test_anywhere(tmp_path):
  _save(tmp_path / "a/x/1.png", _rgb(0))
  _save(tmp_path / "b/x/1.png", _rgb(0))
  _raises(tmp_path, tmp_path, "no train/ and test/")


def test_split_without_class_folders_or_images(tmp_path):
  _save(tmp_path / "train/a/1.png", _rgb(0))
  (tmp_path / "test").mkdir()
  _raises(tmp_path, tmp_path / "test", "no class folders")
  (tmp_path / "test/a").mkdir()
  (tmp_path / "test/a/readme.txt").write_text("x")
  _raises(tmp_path, tmp_path / "test", "no images")


def test_class_folders_differ(tmp_path):
  for split, cls in (("train", "a"), ("train", "b"), ("test", "a"),
                     ("test", "c")):
    _save(tmp_path / split / cls / "1.png", _rgb(0))
  _raises(tmp_path, tmp_path, "only in train: ['b']", "only in test: ['c']")


@pytest.mark.parametrize("content", [b"not an image at all", "truncated"])
def test_corrupt_image(tmp_path, content):
  _make_tree(tmp_path)
  if content == "truncated":
    buf = io.BytesIO()
    Image.fromarray(_rgb(0)).save(buf, format="PNG")
    content = buf.getvalue()[:60]
  (tmp_path / "test/bird/broken.png").write_bytes(content)
  _raises(tmp_path, tmp_path / "test/bird/broken.png", "cannot decode")


def test_mixed_sizes(tmp_path):
  _save(tmp_path / "train/a/1.png", _rgb(0, 4, 5))
  _save(tmp_path / "train/a/2.png", _rgb(0, 6, 5))
  _save(tmp_path / "test/a/1.png", _rgb(0, 4, 5))
  _raises(tmp_path, "train/a/1.png is 5x4", "train/a/2.png is 5x6")
  (tmp_path / "train/a/2.png").unlink()  # now train and test differ
  _save(tmp_path / "test/a/1.png", _rgb(0, 5, 5))
  _raises(tmp_path, "train/a/1.png is 5x4", "test/a/1.png is 5x5")


def test_image_larger_than_limit(tmp_path):
  _save(tmp_path / "train/a/1.png", np.zeros((1, 4097, 3), np.uint8))
  _save(tmp_path / "test/a/1.png", np.zeros((1, 4097, 3), np.uint8))
  _raises(tmp_path, tmp_path / "train/a/1.png", "4097x1", "4096x4096")


def test_zip_bomb_ratio_guard(tmp_path):
  path = tmp_path / "bomb.zip"
  with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    z.writestr("train/a/bomb.png", bytes(50 * 2**20))
    z.writestr("test/a/1.png", b"x")
  info = zipfile.ZipFile(path).getinfo("train/a/bomb.png")
  assert info.file_size / info.compress_size > data.MAX_ZIP_RATIO
  start = time.perf_counter()
  _raises(path, path, "train/a/bomb.png", "1000x limit")
  assert time.perf_counter() - start < 2


def test_zip_total_size_guard(tmp_path, monkeypatch):
  _make_tree(tmp_path / "tree")
  path = _zip(tmp_path / "tree", tmp_path / "big.zip")
  monkeypatch.setattr(folder, "MAX_ZIP_BYTES", 1000)
  _raises(path, path, "GiB limit")


def test_zip_member_corrupt_crc(tmp_path):
  _make_tree(tmp_path / "tree")
  path = _zip(tmp_path / "tree", tmp_path / "d.zip")
  raw = bytearray(path.read_bytes())
  info = zipfile.ZipFile(path).getinfo("train/ant/x1.png")
  offset = info.header_offset + 30 + len(info.filename) + 20
  raw[offset] ^= 0xFF  # flip a byte inside the member's data
  path.write_bytes(bytes(raw))
  _raises(path, "train/ant/x1.png", "CRC")


def test_bad_config_values():
  _raises(_config(max_train=-1), "max_train", "-1")
  _raises(_config(synthetic_train=0), "synthetic_train")
  _raises(_config(name=""), "config.data.name is empty")


# ----------------------------------------------------------------------------
# Synthetic shapes.
# ----------------------------------------------------------------------------

def test_synthetic_deterministic_shapes_and_classes():
  a = data.load(_config(synthetic_train=300, synthetic_test=120, seed=3))
  b = data.synthetic(300, 120, seed=3)
  c = data.synthetic(300, 120, seed=4)
  np.testing.assert_array_equal(a.train.images, b.train.images)
  np.testing.assert_array_equal(a.test.labels, b.test.labels)
  assert not np.array_equal(a.train.images, c.train.images)
  assert not np.array_equal(a.train.images[:120], a.test.images)
  assert a.train.images.shape == (300, 32, 32, 3)
  assert a.test.images.shape == (120, 32, 32, 3)
  assert a.train.images.dtype == np.uint8 and a.train.labels.dtype == np.int32
  assert a.class_names == list(data.SYNTHETIC_CLASSES) and a.num_classes == 10
  for split in (a.train, a.test):
    counts = np.bincount(split.labels, minlength=10)
    assert len(counts) == 10 and counts.min() >= len(split) // 10
  assert a.image_shape == (32, 32, 3)
  assert a.train.images.std() > 40  # varied colours, not blank images


def test_synthetic_max_train_subsamples():
  full = data.synthetic(100, 50, seed=0)
  ds = data.load(_config(synthetic_train=100, synthetic_test=50, max_train=30,
                         max_test=20))
  kept = data.subsample(100, 30)
  np.testing.assert_array_equal(ds.train.images, full.train.images[kept])
  np.testing.assert_array_equal(ds.train.labels, full.train.labels[kept])
  assert len(ds.test) == 20
  assert ds.mean == data.channel_stats(ds.train.images)[0]


def test_synthetic_class_not_given_by_colour():
  ds = data.synthetic(5000, 2000, seed=0)
  feats = lambda s: s.images.reshape(len(s), -1, 3).mean(1)  # mean RGB
  train, test = feats(ds.train), feats(ds.test)
  intensity = train.mean(1)
  class_means = [intensity[ds.train.labels == k].mean() for k in range(10)]
  within_std = np.mean([intensity[ds.train.labels == k].std()
                        for k in range(10)])
  # Class means differ by sampling noise only: within 6 standard errors
  # (about 0.25 within-class std here), not by a systematic amount.
  assert np.ptp(class_means) < 6 * within_std / np.sqrt(len(train) / 10)
  # Nearest class centroid on mean colour is at chance (0.1).
  centroids = np.stack([train[ds.train.labels == k].mean(0)
                        for k in range(10)])
  guess = np.argmin(((test[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
  assert np.mean(guess == ds.test.labels) < 0.15


def test_synthetic_classes_have_their_structure():
  ds = data.synthetic(1000, 10, seed=1)
  x = ds.train.images.astype(np.float32).mean(-1)
  along_y = np.abs(np.diff(x, axis=1)).mean((1, 2))  # horizontal edges
  along_x = np.abs(np.diff(x, axis=2)).mean((1, 2))  # vertical edges
  ratio = lambda k: np.median((along_y / along_x)[ds.train.labels == k])
  horizontal = data.SYNTHETIC_CLASSES.index("horizontal bars")
  vertical = data.SYNTHETIC_CLASSES.index("vertical bars")
  assert ratio(horizontal) > 1.15 and ratio(vertical) < 1 / 1.15
  for k in (data.SYNTHETIC_CLASSES.index("disc"),
            data.SYNTHETIC_CLASSES.index("checkerboard")):
    assert 0.95 < ratio(k) < 1.05


# ----------------------------------------------------------------------------
# TFDS (mocked, then the real package offline).
# ----------------------------------------------------------------------------

class _FakeSource:
  def __init__(self, examples):
    self.examples = examples

  def __len__(self):
    return len(self.examples)

  def __getitem__(self, i):
    return self.examples[i]


class _FakeBuilder:
  def __init__(self, prepared, splits=None, error=None):
    self.prepared, self.splits, self.error = prepared, splits or {}, error
    self.data_dir = "/fake/dir"
    self.downloads = 0
    self.info = types.SimpleNamespace(
        features={"image": types.SimpleNamespace(shape=(4, 3, 1)),
                  "label": types.SimpleNamespace(names=["x", "y", "z"],
                                                 num_classes=3)},
        splits={"train": None, "test": None}, file_format="array_record")

  def is_prepared(self):
    return self.prepared

  def download_and_prepare(self, **kwargs):
    self.downloads += 1
    raise self.error

  def as_data_source(self, split):
    return _FakeSource(self.splits[split])


def _fake_tfds(monkeypatch, builder):
  calls = []

  def make_builder(name, data_dir=None, **kwargs):
    calls.append((name, data_dir, kwargs))
    return builder

  fake = types.SimpleNamespace(
      builder=make_builder,
      download=types.SimpleNamespace(DownloadConfig=lambda **kw: kw))
  monkeypatch.setattr(tfds_source, "_import_tfds", lambda: fake)
  return calls


def _alternatives(message):
  for fragment in ("--config.data.path=DIR_OR_ZIP",
                   "--config.data.name=synthetic", "tfds_data_dir"):
    assert fragment in message, message


def test_tfds_download_network_error(monkeypatch):
  requests = pytest.importorskip("requests")
  error = requests.exceptions.ConnectionError(
      "HTTPSConnectionPool(host='www.cs.toronto.edu'): Max retries exceeded")
  builder = _FakeBuilder(prepared=False, error=error)
  calls = _fake_tfds(monkeypatch, builder)
  monkeypatch.setattr(tfds_source, "_probe_network", lambda hosts: None)
  monkeypatch.setattr(tfds_source, "_tensorflow_available", lambda: True)
  start = time.perf_counter()
  message = _raises(_config(name="cifar10", tfds_data_dir="/tmp/tf"),
                    "'cifar10' could not be downloaded", "ConnectionError",
                    "/tmp/tf", "Check the network")
  assert time.perf_counter() - start < 10
  _alternatives(message)
  assert builder.downloads == 1
  assert calls[-1] == ("cifar10", "/tmp/tf", {"file_format": "array_record"})


def test_tfds_unreachable_host_fails_before_download(monkeypatch):
  builder = _FakeBuilder(prepared=False, error=AssertionError("no download"))
  _fake_tfds(monkeypatch, builder)
  monkeypatch.setattr(tfds_source, "_probe_network",
                      lambda hosts: "cannot reach example.org:443 (gaierror)")
  monkeypatch.setattr(tfds_source, "_tensorflow_available", lambda: False)
  message = _raises(_config(name="cifar100"), "'cifar100' is not prepared",
                    "could not be downloaded", "example.org",
                    "TensorFlow is not installed")
  _alternatives(message)
  assert builder.downloads == 0


def test_probe_network_on_local_ports(monkeypatch):
  for key in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
    monkeypatch.delenv(key, raising=False)
  with socket.socket() as server, socket.socket() as closed:
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    closed.bind(("127.0.0.1", 0))  # bound, not listening: refused at once
    assert tfds_source._probe_network(["127.0.0.1"], timeout=2,
                                      port=server.getsockname()[1]) is None
    start = time.perf_counter()
    port = closed.getsockname()[1]
    reason = tfds_source._probe_network(["127.0.0.1"], timeout=2, port=port)
    assert time.perf_counter() - start < 2
    assert f"cannot reach 127.0.0.1:{port}" in reason
    assert "ConnectionRefusedError" in reason


def test_tfds_data_source_arrays(monkeypatch):
  rng = np.random.default_rng(0)
  splits = {s: [{"image": rng.integers(0, 256, (4, 3, 1), np.uint8),
                 "label": np.int64(i % 3)} for i in range(n)]
            for s, n in (("train", 7), ("test", 5))}
  _fake_tfds(monkeypatch, _FakeBuilder(prepared=True, splits=splits))
  ds = data.load(_config(name="fake_ds", max_train=4))
  assert ds.name == "fake_ds" and ds.class_names == ["x", "y", "z"]
  assert ds.image_shape == (4, 3, 3) and len(ds.test) == 5
  kept = data.subsample(7, 4)
  for image, label, i in zip(ds.train.images, ds.train.labels, kept):
    np.testing.assert_array_equal(image, np.repeat(
        splits["train"][i]["image"], 3, axis=-1))
    assert label == i % 3
  assert ds.train.labels.dtype == np.int32 and ds.train.images.dtype == np.uint8
  np.testing.assert_array_equal(ds.test.labels, [0, 1, 2, 0, 1])
  assert ds.mean == data.channel_stats(ds.train.images)[0]


def test_tfds_import_failure(monkeypatch):
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
  message = _raises(_config(name="cifar10"),
                    "cannot import tensorflow_datasets")
  _alternatives(message)


def test_tfds_unknown_name():
  pytest.importorskip("tensorflow_datasets")
  message = _raises(_config(name="cifar-10"), "'cifar-10' is not a TFDS",
                    "cifar10")
  _alternatives(message)


def test_tfds_cifar10_offline_real(tmp_path):
  pytest.importorskip("tensorflow_datasets")
  if tfds_source._tensorflow_available():
    pytest.skip("TensorFlow installed: this could start a real download")
  start = time.perf_counter()
  message = _raises(_config(name="cifar10", tfds_data_dir=str(tmp_path)),
                    "'cifar10' is not prepared", str(tmp_path))
  assert time.perf_counter() - start < 60
  _alternatives(message)


# ----------------------------------------------------------------------------
# The real CIFAR-10 JPEG copy, when the shared data is there.
# ----------------------------------------------------------------------------

@pytest.mark.skipif(not CIFAR_ZIP.exists(), reason=f"no {CIFAR_ZIP}")
def test_cifar10_jpeg_zip():
  start = time.perf_counter()
  ds = data.load(_config(path=str(CIFAR_ZIP), max_train=500, max_test=200))
  assert time.perf_counter() - start < 20
  assert ds.class_names == CIFAR_CLASSES and ds.num_classes == 10
  assert ds.train.images.shape == (500, 32, 32, 3)
  assert ds.test.images.shape == (200, 32, 32, 3)
  assert set(ds.train.labels.tolist()) == set(range(10))
  assert ds.train.images.std() > 30
  np.testing.assert_allclose(ds.mean, (0.4913, 0.4821, 0.4465), atol=0.03)
