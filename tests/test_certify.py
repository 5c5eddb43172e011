"""mdr.certify: the geometry the certificates rest on, the vote and
double-masking rules against NumPy transliterations of the reference
implementations, and brute-force soundness on tiny images."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mdr.certify import ds
from mdr.certify import pc


# --- Geometry ----------------------------------------------------------------

def test_every_patch_lies_inside_a_mask_for_every_small_geometry():
  """PatchCleanser's R-covering: for every N <= 32, p <= N/2, k <= 6, every
  offset of a p-wide patch (borders 0 and N - p included) lies inside one
  mask interval; every mask lies inside the image."""
  cases = 0
  for n in range(2, 33):
    for p in range(1, n // 2 + 1):
      for k in range(1, 7):
        m, pos = pc.positions(n, p, k)
        assert all(0 <= q and q + m <= n for q in pos), (n, p, k)
        for o in range(0, n - p + 1):
          assert any(q <= o and o + p <= q + m for q in pos), (n, p, k, o)
        cases += 1
  assert cases > 1000


def test_mask_sets_of_the_spec():
  assert pc.positions(32, 5, 6) == (9, [0, 5, 10, 15, 20, 23])
  assert pc.positions(32, 2, 6) == (7, [0, 6, 12, 18, 24, 25])
  assert pc.positions(224, 35, 6) == (66, [0, 32, 64, 96, 128, 158])
  assert pc.positions(8, 2, 3) == (4, [0, 3, 4])
  masks = pc.mask_set(32, 32, 5, 6)
  assert masks.shape == (36, 32, 32) and (masks.sum((1, 2)) == 81).all()
  assert [pc.passes(len(pc.mask_set(32, 32, 5, k))) for k in (3, 4, 5, 6)] == [
      45, 136, 325, 666]
  with pytest.raises(ValueError, match="patch side must be in"):
    pc.positions(8, 9)


def test_a_patch_touches_exactly_delta_bands_at_every_offset():
  for w in range(2, 33):
    for b in range(1, w + 1):
      for p in range(1, w + 1):
        for o in range(0, w - p + 1):
          cols = set(range(o, o + p))
          touched = sum(1 for pos in range(w)
                        if cols & {(pos + i) % w for i in range(b)})
          assert touched == ds.delta(p, b, w), (w, b, p, o)


# --- The rules against the references ----------------------------------------

def _reference_ds(v, p, b):
  """patchSmoothing's utils_band.predict_and_certify, its vote-count part."""
  idxsort = np.argsort(-v, axis=1, kind="stable")
  valsort = -np.sort(-v, axis=1, kind="stable")
  val, idx = valsort[:, 0], idxsort[:, 0]
  val2, idx2 = valsort[:, 1], idxsort[:, 1]
  d = p + b - 1
  return idx, (val - val2 > 2 * d) | ((val - val2 == 2 * d) & (idx < idx2))


def test_votes_prediction_and_certificate_equal_the_reference():
  rng = np.random.default_rng(0)
  p, b, w = 5, 4, 32
  d = ds.delta(p, b, w)
  v = rng.integers(0, 33, (10_000, 10))
  # Forced ties and gaps of exactly 2Δ − 1, 2Δ and 2Δ + 1, either order.
  for gap, row in zip([2 * d - 1, 2 * d, 2 * d + 1, 0] * 500,
                      range(0, 8000, 4)):
    i, j = rng.choice(10, 2, replace=False)
    v[row] = rng.integers(0, 5, 10)
    v[row, i], v[row, j] = 10 + gap, 10
  idx, cert = _reference_ds(v, p, b)
  vj = jnp.asarray(v)
  np.testing.assert_array_equal(np.asarray(ds.predict(vj)), idx)
  np.testing.assert_array_equal(np.asarray(ds.certified(vj, p, b, w)), cert)
  assert 0 < cert.mean() < 1
  # Votes: θ-thresholded softmax, or the argmax.
  logits = jnp.asarray(rng.normal(size=(32, 4, 10)) * 3)
  soft = np.asarray(jax.nn.softmax(logits, -1))
  np.testing.assert_array_equal(np.asarray(ds.votes(logits, 0.2)),
                                (soft >= 0.2).sum(0))
  np.testing.assert_array_equal(
      np.asarray(ds.votes(logits, None)),
      np.eye(10, dtype=int)[np.argmax(soft, -1)].sum(0))


def _reference_pc(pm):
  """PatchCleanser's double_masking_precomputed, with the majority's tie
  made explicit as the reference's np.argsort(cnt) would usually leave it
  (unspecified: callers skip ties)."""
  one = np.diag(pm)
  pred, cnt = np.unique(one, return_counts=True)
  if len(pred) == 1:
    return pred[0]
  order = np.argsort(cnt)
  majority, disagreers = pred[order][-1], pred[order][:-1]
  tmp = np.zeros_like(one, bool)
  for dis in disagreers:
    tmp |= one == dis
  for i in np.where(tmp)[0]:
    if np.all(pm[i] == one[i]):
      return one[i]
  return majority


def test_double_masking_and_certificate_equal_the_reference():
  rng = np.random.default_rng(1)
  maps, skipped = [], 0
  for _ in range(3000):
    m = 9
    pm = np.full((m, m), rng.integers(0, 3))
    kind = rng.integers(0, 4)
    if kind >= 1:   # disagreers; some rows unanimous for their own label
      for i in rng.choice(m, rng.integers(1, 4), replace=False):
        lab = rng.integers(0, 4)
        pm[i, :] = lab
        pm[:, i] = lab
        if kind == 2:
          pm[i, rng.integers(0, m)] = rng.integers(0, 4)
          pm = np.triu(pm) + np.triu(pm, 1).T
    if kind == 3:
      pm = rng.integers(0, 3, (m, m))
      pm = np.triu(pm) + np.triu(pm, 1).T
    _, cnt = np.unique(np.diag(pm), return_counts=True)
    if (cnt == cnt.max()).sum() > 1:
      skipped += 1   # a tie for the majority: the reference leaves it open
      continue
    maps.append(pm)
  maps = np.stack(maps)
  got, case = pc.double_masking(maps)
  want = np.array([_reference_pc(pm) for pm in maps])
  np.testing.assert_array_equal(got, want)
  assert set(case) == {1, 2, 3} and skipped < len(maps)
  labels = maps[:, 0, 0]
  np.testing.assert_array_equal(
      np.asarray(pc.certify(jnp.asarray(maps), jnp.asarray(labels))),
      [np.all(pm == l) for pm, l in zip(maps, labels)])
  # The deliberate tie rule: the smaller label wins a tied majority.
  tie = np.zeros((4, 4), int)
  tie[[0, 1], [0, 1]] = 7
  tie[[2, 3], [2, 3]] = 2
  tie[0, 1] = tie[1, 0] = 3      # no disagreer row is unanimous
  tie[2, 3] = tie[3, 2] = 3
  assert pc.double_masking(tie[None])[0][0] == 2


# --- Brute force on 8x8 images: every patch position x a palette ------------

N, P, B = 8, 2, 2          # image side, patch side, band width: Δ = 3
PALETTE = (0.0, 0.5, 1.0)


def _patched(image):
  """Every 2x2 patch at every position with every palette content:
  ``[49 * 81, 8, 8, 1]``."""
  contents = np.array(list(itertools.product(PALETTE, repeat=P * P)))
  out = []
  for y in range(N - P + 1):
    for x in range(N - P + 1):
      imgs = np.repeat(image[None], len(contents), 0)
      imgs[:, y:y + P, x:x + P, 0] = contents.reshape(-1, P, P)
      out.append(imgs)
  return jnp.asarray(np.concatenate(out))


def _oracle(lookup, trigger_class):
  """A base model of the 2-channel ablated 8x8 image: the class
  ``trigger_class`` if a kept pixel is 1.0 (the trigger), else the class
  ``lookup[band position]``."""
  lookup = jnp.asarray(lookup)

  def logits_fn(xa):
    kept = (xa[..., 0] + xa[..., 1]) > 0.5                 # [B, H, W]
    col = kept.any(1)                                      # [B, W]
    start = col & ~jnp.roll(col, 1, axis=1)                # band's first col
    pos = jnp.argmax(start, 1)
    trig = ((xa[..., 0] == 1.0) & kept).any((1, 2))
    cls = jnp.where(trig, trigger_class, lookup[pos])
    return jax.nn.one_hot(cls, 10) * 10.0
  return logits_fn


@pytest.mark.parametrize("lookup,trigger,certified,attackable", [
    # gap 2Δ + 1 = 7 (class 5 seven votes, class 9 one): certified, and no
    # patch moves it.
    ([5] * 7 + [9], 3, True, False),
    # gap 2Δ = 6 with the winner's index larger than the runner-up's:
    # not certified, and a patch does flip it (4 : 4, the smaller wins).
    ([5] * 7 + [3], 3, False, True),
    # gap 2Δ with the winner's index the smaller: certified, never flipped.
    ([3] * 7 + [5], 5, True, False),
    # gap 2Δ − 1 = 5: not certified, and a patch flips it.
    ([5] * 6 + [3, 9], 3, False, True),
])
def test_smoothing_certificate_is_sound_and_tight(lookup, trigger, certified,
                                                   attackable):
  fn = _oracle(lookup, trigger)
  image = np.full((N, N, 1), 0.25, np.float32)
  pred, v = ds.smooth(fn, jnp.asarray(image[None]), b=B, theta=None)
  cert = bool(ds.certified(v, P, B, N)[0])
  assert cert == certified
  preds, _ = ds.smooth(fn, _patched(image), b=B, theta=None)
  flipped = bool((preds != pred[0]).any())
  assert flipped == attackable
  assert not (cert and flipped)


def _tiny_linear(seed, channels, bias_class=0, scale=0.6):
  w = jax.random.normal(jax.random.key(seed), (N * N * channels, 10)) * scale
  bias = jnp.zeros(10).at[bias_class].set(4.0)
  return lambda x: x.reshape(len(x), -1) @ w + bias


def test_smoothing_certificates_of_a_tiny_model_hold_under_every_patch():
  fn = _tiny_linear(0, 2, scale=0.5)   # certifies 2 of the 6 images
  rng = np.random.default_rng(0)
  images = rng.uniform(0, 1, (6, N, N, 1)).astype(np.float32)
  preds, v = ds.smooth(fn, jnp.asarray(images), b=B, theta=0.2)
  cert = np.asarray(ds.certified(v, P, B, N))
  assert cert.any() and not cert.all()
  for i in np.nonzero(cert)[0]:
    patched, _ = ds.smooth(fn, _patched(images[i]), b=B, theta=0.2)
    assert (np.asarray(patched) == int(preds[i])).all(), i


def test_patchcleanser_certificates_hold_under_every_patch():
  """8x8, p = 2, k = 3: 9 masks, 45 two-mask passes. Certified (every
  two-mask prediction is the label) => double masking returns the label on
  every patched image; and a mask covering the patch removes it exactly."""
  masks = pc.mask_set(N, N, P, 3)
  assert len(masks) == 9 and pc.passes(9) == 45
  fn = _tiny_linear(1, 1, scale=0.3)   # certifies some images, not all
  rng = np.random.default_rng(1)
  images = rng.uniform(0, 1, (6, N, N, 1)).astype(np.float32)
  labels = jnp.argmax(fn(jnp.asarray(images)), -1)
  pm = pc.prediction_map(fn, jnp.asarray(images), masks)
  cert = np.asarray(pc.certify(pm, labels))
  assert cert.any() and not cert.all()
  for i in np.nonzero(cert)[0]:
    patched = _patched(images[i])
    got, _ = pc.double_masking(pc.prediction_map(fn, patched, masks,
                                                 chunk=45))
    assert (got == int(labels[i])).all(), i
  # Masking removes the patch: for every position, every covering mask.
  x = jnp.asarray(images[:1])
  for y, xx in itertools.product(range(N - P + 1), repeat=2):
    patched = x.at[:, y:y + P, xx:xx + P].set(1.0)
    cover = [m for m in masks if m[y:y + P, xx:xx + P].all()]
    assert cover
    for m in cover:
      mm = jnp.asarray(m)[None]
      np.testing.assert_array_equal(np.asarray(pc.hide(patched, mm)),
                                    np.asarray(pc.hide(x, mm)))


def test_certificates_do_not_depend_on_the_batch_or_jit():
  fn = _tiny_linear(2, 2)
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.uniform(0, 1, (16, N, N, 1)).astype(np.float32))
  y = jnp.argmax(_tiny_linear(2, 1)(x), -1)
  whole = ds.certify(fn, x, y, p=P, b=B)
  one = [ds.certify(fn, x[i:i + 1], y[i:i + 1], p=P, b=B) for i in range(16)]
  jitted = jax.jit(lambda x, y: ds.certify(fn, x, y, p=P, b=B))(x, y)
  for k in range(2):
    np.testing.assert_array_equal(np.asarray(whole[k]), np.concatenate(
        [np.asarray(o[k]) for o in one]))
    np.testing.assert_array_equal(np.asarray(whole[k]), np.asarray(jitted[k]))


def test_the_patch_cleanser_evaluator_on_a_stub_model(tmp_path):
  """Through evaluate(): a certified image is also right under double
  masking (case I), so certified <= defended clean accuracy; the cases add
  up; 36 masks and 666 passes per image at p = 5, k = 6."""
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  from conftest import tiny_config, validate  # pylint: disable=g-import-not-at-top
  from mdr import data as data_lib  # pylint: disable=g-import-not-at-top
  from mdr import evaluate, train  # pylint: disable=g-import-not-at-top
  from test_eval_attacks import StubModel  # pylint: disable=g-import-not-at-top
  c = tiny_config(**{"eval.suites": ("patch_cleanser",),
                     "eval.certify_images": 12, "eval.tta": 0,
                     "eval.certify_attack_images": 2,
                     "eval.certify_attack_steps": 2,
                     "eval.certify_attack_screen": 1})
  validate(c)
  shapes = data_lib.synthetic(16, 40, seed=0)
  out = evaluate.evaluate(c, str(tmp_path), StubModel(), {}, shapes,
                          train.make_mesh())
  r = json.load(open(os.path.join(out, "patch_cleanser.json")))
  assert [x["patch"] for x in r["records"]] == [2, 5] and r["n"] == 12
  five = r["records"][1]
  assert (five["masks"], five["passes"], five["mask_side"]) == (36, 666, 9)
  for x in r["records"]:
    assert x["certified"] <= x["clean_accuracy"] + 1e-9
    assert sum(x["cases"].values()) == pytest.approx(100.0)
  assert "| 5×5 | 36 | 9 | 666 |" in open(
      os.path.join(out, "patch_cleanser.md")).read()
  # The empirical check ran at the largest side on what it was given.
  e = r["empirical"]
  assert e["side"] == 5 and e["certified"]["n"] <= 2
  assert e["certified"]["n"] == min(2, five["certified_k"])
  assert e["certified"]["successes"] == 0 and e["passed"]


def test_grid_mask_training_hides_masks_of_the_certificate_grid():
  """train.grid_masks: every masked example hides the union of 1 (or 2)
  masks of PatchCleanser's grid, the mixed batch's other half nothing."""
  from conftest import tiny_config  # pylint: disable=g-import-not-at-top
  from mdr import objectives  # pylint: disable=g-import-not-at-top
  grid = pc.mask_set(32, 32, 5, 6)
  for mode, g in (("masked", 1), ("mixed", 2)):
    tc = tiny_config(**{"train.mode": mode, "train.grid_masks": g}).train
    hidden = np.asarray(objectives.grid_training_masks(
        tc, jax.random.key(0), 16, 32, 32, 16 if mode == "masked" else 8))
    for i, h in enumerate(hidden):
      if mode == "mixed" and i >= 8:
        assert not h.any()
        continue
      covering = [m for m in grid if (h | m).sum() == h.sum() and
                  (m & h).sum() == m.sum()]
      assert covering and h.sum() <= g * 81
      if g == 1:
        assert any((h == m).all() for m in grid)


def test_grid_mask_settings_are_checked_and_reach_the_training_batch():
  from conftest import tiny_config, validate  # pylint: disable=g-import-not-at-top
  from mdr import config as config_lib  # pylint: disable=g-import-not-at-top
  from mdr import objectives  # pylint: disable=g-import-not-at-top
  for field, value in (("train.grid_masks", 3), ("train.grid_k", 0)):
    with pytest.raises(config_lib.ConfigError, match=field.split(".")[1]):
      validate(tiny_config(**{field: value}))
  tc = tiny_config(**{"train.mode": "masked", "train.grid_masks": 1}).train
  x = jnp.ones((4, 32, 32, 3))
  out = objectives.mask_training_batch(tc, jax.random.key(1), x,
                                       jnp.zeros(4, jnp.int32), None,
                                       jnp.zeros(3))
  assert (np.asarray(out[..., 0] == 0).reshape(4, -1).sum(1) == 81).all()


def test_the_empirical_check_never_beats_a_certificate_and_can_fail():
  """mdr.certify.empirical on tiny linear models (8x8, p = 2): the
  location-searched patch on the surrogate flips no certified image's
  defended prediction, and does flip some uncertified ones (so the check
  is not vacuous), for smoothing and for PatchCleanser."""
  from mdr.certify import empirical  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(3)
  images = jnp.asarray(rng.uniform(0, 1, (48, N, N, 1)).astype(np.float32))
  masks = pc.mask_set(N, N, P, 3)
  fn = _tiny_linear(0, 2, scale=0.6)
  defend = empirical.ds_defended(fn, B, 0.2)
  ds_case = (empirical.ds_surrogate(fn, B), defend, defend(images),
             ds.certified(ds.smooth(fn, images, b=B, theta=0.2)[1], P, B, N))
  fn = _tiny_linear(1, 1, scale=0.3)
  defend = empirical.pc_defended(fn, masks, 0.0)
  labels = defend(images)
  pc_case = (empirical.pc_surrogate(fn, masks, 0.0), defend, labels,
             pc.certify(pc.prediction_map(fn, images, masks), labels))
  for surrogate, defend, labels, cert in (ds_case, pc_case):
    cert = np.asarray(cert)
    assert 4 <= cert.sum() <= 40, cert.sum()
    r = empirical.check(surrogate, defend, images, labels, cert,
                        np.ones(48, bool), jax.random.key(0), n=48, side=P,
                        steps=30, screen_steps=5)
    assert r["certified"]["n"] == cert.sum() and r["passed"], r
    assert r["uncertified"]["successes"] > 0 and r["can_fail"], r
