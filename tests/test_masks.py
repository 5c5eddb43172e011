"""Exactness tests for mdr.masks: counts, shapes, positions, optimality."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mdr import masks

RATIOS = [0.0, 0.001, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.33, 0.5,
          0.75, 0.9, 0.99, 1.0]
SHAPES = [(32, 32), (28, 28), (7, 13), (13, 7), (1, 1), (1, 9), (64, 48)]


def expected_count(ratio, h, w):
  return int(np.round(np.float32(ratio) * np.float32(h * w)))


def expected_side(ratio, h, w):
  s = int(np.round(np.sqrt(np.float32(ratio) * np.float32(h * w))))
  return min(s, h, w)


def _sweep(fn, shape, n_keys=8):
  """fn(key, ratio) over all RATIOS x n_keys keys in one jitted call."""
  keys = jax.random.split(jax.random.key(7), n_keys)
  ratios = jnp.asarray(RATIOS, jnp.float32)
  grid = jax.jit(jax.vmap(jax.vmap(fn, in_axes=(0, None)), in_axes=(None, 0)))
  return np.asarray(grid(keys, ratios))  # [R, K, H, W]


# ---------------------------------------------------------------- sizes.

def test_side_and_num_pixels_match_formula():
  for (h, w), r in itertools.product(SHAPES, RATIOS):
    assert int(masks.side(r, h, w)) == expected_side(r, h, w), (h, w, r)
    assert int(masks.num_pixels(r, h, w)) == expected_count(r, h, w)
  # The float32 counts agree with Python's float64 round for these ratios.
  for (h, w), r in itertools.product(SHAPES, RATIOS):
    assert expected_count(r, h, w) == round(r * h * w), (h, w, r)
  assert int(masks.side(0.0, 32, 32)) == 0
  assert int(masks.side(0.1, 32, 32)) == 10   # sqrt(102.4) = 10.1
  assert int(masks.side(0.2, 32, 32)) == 14   # sqrt(204.8) = 14.3
  assert int(masks.side(1.0, 7, 13)) == 7     # clipped to min(H, W)


# ---------------------------------------------------------------- gamma.

@pytest.mark.parametrize("shape", SHAPES)
def test_random_pixels_exact_count(shape):
  got = _sweep(lambda k, r: masks.random_pixels(k, r, shape), shape)
  assert got.dtype == bool and got.shape[2:] == shape
  for i, r in enumerate(RATIOS):
    np.testing.assert_array_equal(got[i].sum((1, 2)),
                                  expected_count(r, *shape))


def test_random_pixels_large_image_exact_count():
  keys = jax.random.split(jax.random.key(1), 4)
  for r in (0.02, 0.2, 0.99):
    m = jax.jit(jax.vmap(lambda k: masks.random_pixels(k, r, (224, 224))))(
        keys)
    np.testing.assert_array_equal(np.asarray(m).sum((1, 2)),
                                  expected_count(r, 224, 224))


def test_random_pixels_is_uniform_over_pixels():
  keys = jax.random.split(jax.random.key(3), 4000)
  m = jax.jit(jax.vmap(lambda k: masks.random_pixels(k, 0.25, (4, 4))))(keys)
  freq = np.asarray(m).mean(0)
  # Each pixel is hidden with probability 4/16; 4000 draws -> std 0.007.
  np.testing.assert_allclose(freq, 0.25, atol=0.035)


def _stable_smallest(values, k):
  out = np.zeros(values.shape, bool)
  out[np.argsort(values, kind="stable")[:k]] = True
  return out


def test_smallest_k_exact_with_ties():
  rng = np.random.default_rng(0)
  select = jax.jit(masks._smallest_k)
  for n, hi in [(9, 3), (100, 4), (1000, 50), (37, 2**32 - 1)]:
    values = rng.integers(0, hi, n, dtype=np.uint64).astype(np.uint32)
    values[:3] = [0, 0xFFFFFFFF, 0xFFFFFFFF][: min(3, n)]
    for k in sorted({0, 1, 2, n // 3, n // 2, n - 1, n}):
      got = np.asarray(select(jnp.asarray(values), k))
      np.testing.assert_array_equal(got, _stable_smallest(values, k),
                                    err_msg=f"n={n} k={k}")


# ---------------------------------------------------------------- beta.

@pytest.mark.parametrize("shape", SHAPES)
def test_random_square_is_one_square_inside(shape):
  got = _sweep(lambda k, r: masks.random_square(k, r, shape), shape)
  for i, r in enumerate(RATIOS):
    s = expected_side(r, *shape)
    for m in got[i]:
      assert m.sum() == s * s, (shape, r)
      if s:
        rows, cols = np.nonzero(m.any(1))[0], np.nonzero(m.any(0))[0]
        assert len(rows) == s and len(cols) == s
        assert rows[-1] - rows[0] == s - 1 and cols[-1] - cols[0] == s - 1
        assert m[rows[0]:rows[0] + s, cols[0]:cols[0] + s].all()


def test_random_square_every_position_occurs_uniformly():
  h, w, ratio = 6, 5, 9 / 30  # side 3 -> 4 x 3 = 12 positions
  assert expected_side(ratio, h, w) == 3
  keys = jax.random.split(jax.random.key(0), 6000)
  m = np.asarray(jax.jit(jax.vmap(
      lambda k: masks.random_square(k, ratio, (h, w))))(keys))
  corners = [(np.argmax(x.any(1)), np.argmax(x.any(0))) for x in m]
  counts = {}
  for c in corners:
    counts[c] = counts.get(c, 0) + 1
  assert set(counts) == {(y, x) for y in range(4) for x in range(3)}
  # 500 expected per position; std ~21.
  assert min(counts.values()) > 400 and max(counts.values()) < 600


# ---------------------------------------------------------------- alpha.

def brute_force_best(saliency, s):
  h, w = saliency.shape
  best, where = -np.inf, None
  for y in range(h - s + 1):
    for x in range(w - s + 1):
      total = saliency[y:y + s, x:x + s].sum(dtype=np.float64)
      if total > best:
        best, where = total, (y, x)
  return best, where


@pytest.mark.parametrize("shape", [(32, 32), (7, 13), (12, 5)])
def test_salient_square_is_brute_force_best(shape):
  rng = np.random.default_rng(1)
  fn = jax.jit(masks.salient_square)
  for r in (0.01, 0.05, 0.1, 0.2, 0.5, 1.0):
    s = expected_side(r, *shape)
    # Integer saliency: float32 sums are exact, so the argmax (first in
    # row-major order among equals) must match exactly.
    sal = rng.integers(0, 1000, shape).astype(np.float32)
    _, (y, x) = brute_force_best(sal, s)
    want = np.zeros(shape, bool)
    want[y:y + s, x:x + s] = True
    np.testing.assert_array_equal(np.asarray(fn(sal, r)), want)
    # Real saliency: the chosen window's sum is the maximum (to float32).
    sal = rng.random(shape, np.float32) ** 3
    best, _ = brute_force_best(sal, s)
    got = np.asarray(fn(sal, r))
    assert got.sum() == s * s
    np.testing.assert_allclose(sal[got].sum(dtype=np.float64), best,
                               rtol=1e-5)


def test_salient_square_ties_take_first_window():
  sal = np.zeros((6, 6), np.float32)
  m = np.asarray(masks.salient_square(sal, 4 / 36))  # side 2, all tie
  assert m[:2, :2].all() and m.sum() == 4


def test_salient_pixels_is_stable_top_k():
  rng = np.random.default_rng(2)
  fn = jax.jit(masks.salient_pixels)
  for shape in [(32, 32), (7, 13)]:
    for sal in (rng.random(shape, np.float32),
                rng.integers(0, 4, shape).astype(np.float32)):  # many ties
      for r in RATIOS:
        k = expected_count(r, *shape)
        want = _stable_smallest(-sal.ravel(), k).reshape(shape)
        np.testing.assert_array_equal(np.asarray(fn(sal, r)), want)


def test_salient_pixels_orders_negative_and_zero_values():
  sal = np.array([[0.5, -1.0, 0.0], [-0.0, 2.0, -3.0]], np.float32)
  order = [masks.salient_pixels(sal, k / 6) for k in range(7)]
  hidden = [np.asarray(m).ravel() for m in order]
  assert [h.sum() for h in hidden] == list(range(7))
  # Descending, stable: 2.0, 0.5, 0.0, -0.0, -1.0, -3.0 -> flat indices
  firsts = [int(np.flatnonzero(b & ~a)[0]) for a, b in zip(hidden, hidden[1:])]
  assert firsts == [4, 0, 2, 3, 1, 5]


# ---------------------------------------------------------------- keys.

@pytest.mark.parametrize("name", ["beta", "gamma"])
def test_same_key_same_mask_other_key_other_mask(name):
  fn = jax.jit(lambda k: masks.get(name).fn(k, 0.1, None, (32, 32)))
  a = np.asarray(fn(jax.random.key(0)))
  np.testing.assert_array_equal(a, np.asarray(fn(jax.random.key(0))))
  others = [np.asarray(fn(jax.random.key(i))) for i in range(1, 6)]
  assert all((o != a).any() for o in others)


def test_vmap_equals_loop_for_every_attack():
  b, shape = 6, (9, 11)
  keys = jax.random.split(jax.random.key(5), b)
  ratios = jnp.asarray([0.0, 0.05, 0.1, 0.3, 0.7, 1.0])
  sal = jax.random.uniform(jax.random.key(6), (b,) + shape)
  for name in masks.REGISTRY:
    batched = masks.batch_masks(name, keys, ratios, shape, sal)
    for i in range(b):
      one = masks.get(name).fn(keys[i], float(ratios[i]), sal[i], shape)
      np.testing.assert_array_equal(batched[i], one, err_msg=name)
    shared = masks.batch_masks(name, keys, 0.3, shape, sal)  # scalar ratio
    for i in range(b):
      one = masks.get(name).fn(keys[i], 0.3, sal[i], shape)
      np.testing.assert_array_equal(shared[i], one, err_msg=name)


def test_ratio_sweep_traces_once():
  keys = jax.random.split(jax.random.key(0), 4)
  sal = jax.random.uniform(jax.random.key(1), (4, 16, 16))

  @jax.jit
  @chex.assert_max_traces(n=1)
  def all_attacks(keys, ratio, sal):
    return [masks.batch_masks(n, keys, ratio, (16, 16), sal)
            for n in masks.REGISTRY]

  for r in (0.0, 0.02, 0.05, 0.1, 0.15, 0.2):
    out = all_attacks(keys, jnp.float32(r), sal)
    assert int(out[2][0].sum()) == expected_count(r, 16, 16)  # gamma
  chex.clear_trace_counter()


# ---------------------------------------------------------------- apply.

def test_apply_fill_modes():
  images = jax.random.uniform(jax.random.key(0), (2, 5, 4, 3))
  m = np.zeros((2, 5, 4), bool)
  m[0, 1:3, 2] = True
  m[1, 4, :] = True
  x, mm = np.asarray(images), m[..., None]
  zero = np.asarray(masks.apply(images, m))
  np.testing.assert_array_equal(zero, np.where(mm, 0.0, x))
  mean = np.asarray(masks.apply(images, m, fill="mean", mean=[0.1, 0.2, 0.3]))
  np.testing.assert_allclose(
      mean, np.where(mm, np.float32([0.1, 0.2, 0.3]), x))
  noise = np.asarray(masks.apply(images, m, fill="noise",
                                 key=jax.random.key(1)))
  np.testing.assert_array_equal(noise[~m], x[~m])
  assert ((noise[m] >= 0) & (noise[m] < 1)).all()
  assert not np.isin(noise[m], x[m]).all()
  again = masks.apply(images, m, fill="noise", key=jax.random.key(1))
  np.testing.assert_array_equal(noise, np.asarray(again))
  one = masks.apply(images, m[0], fill="zero")  # mask broadcasts over batch
  np.testing.assert_array_equal(np.asarray(one)[1],
                                np.where(mm[0], 0.0, x[1]))


def test_mask_images_one_call():
  images = jnp.ones((3, 8, 8, 3))
  out = np.asarray(masks.mask_images("gamma", jax.random.key(0), images, 0.25))
  np.testing.assert_array_equal((out[..., 0] == 0).sum((1, 2)), [16, 16, 16])
  sal = jax.random.uniform(jax.random.key(1), (3, 8, 8))
  out = np.asarray(masks.mask_images("alpha", jax.random.key(0), images, 0.25,
                                     saliency=sal))
  np.testing.assert_array_equal((out[..., 0] == 0).sum((1, 2)), [16, 16, 16])


# ---------------------------------------------------------------- errors.

@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf")])
def test_bad_ratio_raises_naming_value(bad):
  key = jax.random.key(0)
  with pytest.raises(ValueError, match=r"ratio must be in \[0, 1\].*"
                     + (str(bad) if bad == bad else "nan")):
    masks.random_pixels(key, bad, (8, 8))
  with pytest.raises(ValueError, match="ratio"):
    masks.random_square(key, bad, (8, 8))
  with pytest.raises(ValueError, match="ratio"):
    masks.salient_square(jnp.ones((8, 8)), bad)
  with pytest.raises(ValueError, match="ratio"):
    masks.batch_masks("gamma", jax.random.split(key, 2), [0.1, bad], (8, 8))


def test_other_errors_name_the_value():
  key = jax.random.key(0)
  with pytest.raises(ValueError, match="unknown mask attack 'delta'.*alpha"):
    masks.get("delta")
  with pytest.raises(ValueError, match=r"\(height, width\).*\(8, 8, 3\)"):
    masks.random_pixels(key, 0.1, (8, 8, 3))
  with pytest.raises(ValueError, match=r"\(height, width\).*\(0, 8\)"):
    masks.random_square(key, 0.1, (0, 8))
  with pytest.raises(ValueError, match=r"2-D \[H, W\].*\(2, 8, 8\)"):
    masks.salient_square(jnp.ones((2, 8, 8)), 0.1)
  with pytest.raises(ValueError, match="needs saliency"):
    masks.batch_masks("alpha", jax.random.split(key, 2), 0.1, (8, 8))
  with pytest.raises(ValueError, match=r"saliency must be \[B, H, W\]"):
    masks.batch_masks("alpha", jax.random.split(key, 2), 0.1, (8, 8),
                      jnp.ones((2, 8, 9)))
  with pytest.raises(ValueError, match="one value per example"):
    masks.batch_masks("beta", jax.random.split(key, 2), [0.1, 0.2, 0.3],
                      (8, 8))
  images = jnp.ones((2, 8, 8, 3))
  with pytest.raises(ValueError, match="fill must be one of.*'blur'"):
    masks.apply(images, jnp.zeros((2, 8, 8), bool), fill="blur")
  with pytest.raises(ValueError, match="needs mean"):
    masks.apply(images, jnp.zeros((2, 8, 8), bool), fill="mean")
  with pytest.raises(ValueError, match="needs key"):
    masks.apply(images, jnp.zeros((2, 8, 8), bool), fill="noise")
  with pytest.raises(ValueError, match="masks must be bool.*float32"):
    masks.apply(images, jnp.zeros((2, 8, 8)))
  with pytest.raises(ValueError, match=r"\(2, 7, 8\) do not match"):
    masks.apply(images, jnp.zeros((2, 7, 8), bool))
  with pytest.raises(ValueError, match="mean must have 3 values"):
    masks.apply(images, jnp.zeros((2, 8, 8), bool), fill="mean",
                mean=[0.5, 0.5])


def test_saliency_edge_values():
  # Subnormals are not ties with zero (CPUs may flush them in comparisons).
  m = masks.salient_pixels(jnp.array([[0, 1e-40, 0, 2e-40]], jnp.float32),
                           0.25)
  np.testing.assert_array_equal(m, [[False, False, False, True]])
  # An infinite pixel wins the salient square; NaN counts as zero.
  sal = jnp.zeros((8, 8)).at[5, 5].set(jnp.inf).at[1, 1].set(jnp.nan)
  np.testing.assert_array_equal(np.argwhere(np.asarray(
      masks.salient_square(sal, 1 / 64))), [[5, 5]])
  # A concrete bfloat16 ratio is a number like any other.
  assert int(masks.random_pixels(jax.random.key(0), jnp.bfloat16(0.25),
                                 (4, 4)).sum()) == 4


# ------------------------------------------------------- ImageNet-size path.
# Images of >= 128 x 128 pixels take another route: a guessed window around
# the k-th key, interpolation steps, and (on CPU) one example at a time.

def test_random_bits_are_jax_random_bits():
  for key in (jax.random.key(5), jax.random.PRNGKey(5),
              jax.random.split(jax.random.key(9), 3)[2]):
    for n in (1, 2, 1000, 8192, 8193, 50176):
      np.testing.assert_array_equal(
          np.asarray(jax.jit(masks._random_bits, static_argnums=1)(key, n)),
          np.asarray(jax.random.bits(key, (n,), jnp.uint32)),
          err_msg=f"n={n}")
  rbg = jax.random.key(5, impl="rbg")  # other key types: jax.random itself
  np.testing.assert_array_equal(masks._random_bits(rbg, 100),
                                jax.random.bits(rbg, (100,), jnp.uint32))


def test_random_pixels_at_224_are_the_k_smallest_random_bits():
  # The contract that keeps gamma's masks what they always were: the k
  # pixels with the smallest jax.random.bits, ties by index.
  keys = jax.random.split(jax.random.key(4), 3)
  n = 224 * 224
  for r in (0.0, 1 / n, 0.001, 0.1, 0.5, 0.999, 1.0):
    got = np.asarray(masks.batch_masks("gamma", keys, r, (224, 224)))
    k = expected_count(r, 224, 224)
    for key, m in zip(keys, got):
      bits = np.asarray(jax.random.bits(key, (n,), jnp.uint32))
      np.testing.assert_array_equal(
          m.ravel(), _stable_smallest(bits, k), err_msg=f"ratio {r}")


def test_random_pixels_at_224_are_uniform_over_pixels_and_pairs():
  n_keys, ratio = 3000, 0.25
  keys = jax.random.split(jax.random.key(12), n_keys)
  counts = np.zeros((224, 224), np.int64)
  pairs = 0  # horizontally adjacent pixels hidden together
  fn = jax.jit(lambda k: masks.batch_masks("gamma", k, ratio, (224, 224)))
  for chunk in np.split(np.arange(n_keys), 6):
    m = np.asarray(fn(keys[chunk]))
    counts += m.sum(0)
    pairs += int((m[:, :, 1:] & m[:, :, :-1]).sum())
  assert (counts.sum((0, 1)) == n_keys * expected_count(ratio, 224, 224))
  # Each pixel's count is Binomial(3000, 0.25): mean 750, sd 23.7. Bound:
  # z = 6.1 (two-sided 1e-9 per pixel, < 1e-4 over all 50,176 pixels).
  sd = np.sqrt(n_keys * ratio * (1 - ratio))
  assert np.abs(counts - n_keys * ratio).max() < 6.1 * sd
  # The spread over pixels is the binomial's (a non-uniform draw adds to it).
  assert 0.95 < counts.std() / sd < 1.05
  # Without replacement: P(both of two pixels) = p (k - 1) / (n - 1).
  n, k = 224 * 224, expected_count(ratio, 224, 224)
  want = n_keys * 224 * 223 * (k / n) * (k - 1) / (n - 1)
  assert abs(pairs - want) < 6 * np.sqrt(want)


def test_salient_pixels_at_224_is_stable_top_k():
  rng = np.random.default_rng(6)
  shape = (224, 224)
  n = shape[0] * shape[1]
  stride = n // masks._SAMPLE
  sample_heavy = np.zeros(n, np.float32)
  sample_heavy[::stride] = 1.0 + rng.random(len(sample_heavy[::stride]))
  cases = {
      "uniform": rng.random(shape, np.float32),
      "ties": rng.integers(0, 4, shape).astype(np.float32),
      "heavy tail": (rng.exponential(size=shape) ** 4).astype(np.float32),
      # The strided sample holds only the largest values: its window misses
      # the k-th key and the search falls back to every key.
      "sample-aligned": sample_heavy.reshape(shape),
  }
  sal = jnp.asarray(np.stack(list(cases.values())))
  keys = jax.random.split(jax.random.key(0), len(cases))
  for r in (0.0, 1 / n, 0.02, 0.1, 0.5, 1.0):
    got = np.asarray(masks.batch_masks("alpha_pixels", keys, r, shape, sal))
    one = np.asarray(jax.vmap(lambda s: masks.salient_pixels(s, r))(sal))
    k = expected_count(r, *shape)
    for name, m, m1, s in zip(cases, got, one, np.asarray(sal)):
      want = _stable_smallest(-s.ravel(), k).reshape(shape)
      np.testing.assert_array_equal(m, want, err_msg=f"{name} ratio {r}")
      np.testing.assert_array_equal(m1, want, err_msg=f"{name} ratio {r}")


def test_smallest_k_large_with_a_wrong_uniform_guess_is_exact():
  # uniform=True only guesses the window from the spread of uniform keys;
  # keys far from uniform (a narrow range, many ties) must still come out
  # exactly as a stable sort takes them.
  rng = np.random.default_rng(8)
  n = 40000
  select = jax.jit(lambda v, k: masks._smallest_k(v, k, uniform=True))
  for values in (rng.integers(0, 7, n).astype(np.uint32),
                 rng.integers(2**31, 2**31 + 5000, n).astype(np.uint32),
                 np.full(n, 0xFFFFFFFF, np.uint32)):
    for k in (0, 1, 5, n // 3, n - 1, n):
      got = np.asarray(select(jnp.asarray(values), k))
      np.testing.assert_array_equal(got, _stable_smallest(values, k),
                                    err_msg=f"k={k}")


def test_batch_masks_at_224_equal_one_mask_at_a_time():
  # batch_masks loops over the batch on CPU at this size (alpha four at a
  # time: 6 = 4 + a remainder); vmap of the single-image functions is the
  # definition.
  keys = jax.random.split(jax.random.key(2), 6)
  sal = jax.random.uniform(jax.random.key(3), (6, 224, 224))
  ratios = jnp.asarray([0.0, 0.02, 0.1, 0.2, 0.5, 1.0], jnp.float32)
  for name in masks.REGISTRY:
    spec = masks.get(name)
    want = jax.jit(jax.vmap(lambda k, r, s: spec.fn(k, r, s, (224, 224))))(
        keys, ratios, sal)
    got = masks.batch_masks(name, keys, ratios, (224, 224),
                            sal if spec.needs_saliency else None)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want),
                                  err_msg=name)
    got = masks.batch_masks(name, keys, 0.1, (224, 224),
                            sal if spec.needs_saliency else None)
    want = jax.vmap(lambda k, s: spec.fn(k, 0.1, s, (224, 224)))(keys, sal)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want),
                                  err_msg=name)


def test_cumsum_rows_has_the_bits_of_transposed_cumsum_last():
  # Large images build alpha's table without transposes; the result must be
  # the same bits, or alpha's choice among near-equal windows would depend
  # on the image size's code path.
  for shape in [(224, 224), (130, 70), (512, 32), (33, 600), (129, 127)]:
    x = jax.random.uniform(jax.random.key(shape[0]), (3,) + shape) ** 3 - 0.2
    want = jax.jit(jax.vmap(lambda v: masks._cumsum_last(v.T).T))(x)
    got = jax.jit(jax.vmap(masks._cumsum_rows))(x)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    one = jax.jit(masks._cumsum_rows)(x[0])
    np.testing.assert_array_equal(np.asarray(one), np.asarray(want[0]))
