"""LaVAN with the location searched: never weaker than any single candidate
location, and it finds the one place a toy model can be fooled from."""

import jax
import jax.numpy as jnp
import numpy as np

from mdr.attacks import patch

H = W = 16
REGION = (6, 9)     # the only 3x3 square the target logit reads
SIDE = 3


def _toy_logits(x):
  """Class 0 (the source) scores 10; class 1 (the target) 20 x the mean of
  channel 0 over REGION; class 2 scores 0. Images in [0, 0.3] are class 0;
  a patch of 1s covering REGION makes them class 1, elsewhere it cannot."""
  y, xx = REGION
  region = x[:, y:y + SIDE, xx:xx + SIDE, 0]
  t = 20 * jnp.mean(region, (1, 2))
  b = x.shape[0]
  return jnp.stack([jnp.full((b,), 10.0), t, jnp.zeros(b)], -1)


def _batch(n=6):
  x = jax.random.uniform(jax.random.key(0), (n, H, W, 3)) * 0.3
  return x, jnp.zeros(n, jnp.int32), jnp.ones(n, jnp.int32)


def test_train_patches_stops_at_the_margin_and_keeps_the_best_iterate():
  x, src, tgt = _batch()
  locs = jnp.broadcast_to(jnp.asarray(REGION), (len(src), 2))
  keys = jax.random.split(jax.random.key(1), len(src))
  p, m, used = patch.train_patches(_toy_logits, x, src, tgt, locs, keys,
                                   side=SIDE, steps=40, step_size=0.1,
                                   kappa=2.0)
  got = patch.target_margin(_toy_logits(patch.paste_batch(x, p, locs)), tgt)
  np.testing.assert_allclose(got, m, rtol=1e-6)
  assert np.all(np.asarray(m) > 2.0) and np.all(np.asarray(used) < 40)
  # At a corner the target logit never moves: no success, margin unchanged.
  corner = jnp.zeros_like(locs)
  _, m0, used0 = patch.train_patches(_toy_logits, x, src, tgt, corner, keys,
                                     side=SIDE, steps=10, kappa=0.0)
  assert np.all(np.asarray(m0) < 0) and np.all(np.asarray(used0) == 10)


def test_search_is_never_weaker_than_any_single_candidate_location():
  x, src, tgt = _batch()
  key = jax.random.key(2)
  best_p, best_l, best_m, info = patch.search(
      _toy_logits, x, src, tgt, key, side=SIDE, steps=30, screen_steps=10,
      keep=2, restarts=1, step_size=0.1)
  # The best patch, pasted where the search says, gives the margin it says.
  got = patch.target_margin(
      _toy_logits(patch.paste_batch(x, best_p, best_l)), tgt)
  np.testing.assert_allclose(got, best_m, rtol=1e-6)
  # The salient window is exactly REGION; the search fools every image.
  np.testing.assert_array_equal(info["candidates"][:, 4],
                                np.broadcast_to(REGION, (6, 2)))
  assert np.all(np.asarray(best_m) > 0)
  # Each candidate alone, with the full budget and the same step size:
  # the search is at least as successful on every image.
  search_ok = np.asarray(best_m) > 0
  for c in range(info["candidates"].shape[1]):
    locs = info["candidates"][:, c]
    keys = jax.random.split(jax.random.key(3 + c), len(src))
    _, m, _ = patch.train_patches(_toy_logits, x, src, tgt, locs, keys,
                                  side=SIDE, steps=30, step_size=0.1)
    assert np.all(search_ok >= (np.asarray(m) > 0)), c
  # Corners fail on this model: the corner-only attack would report 0 %.
  for c in range(4):
    assert np.all(np.asarray(info["screen_margins"][:, c]) < 0)


def test_search_is_never_weaker_than_its_random_location_run():
  """Stage 1 is exactly location="random"'s run (same keys, same batch)."""
  x, src, tgt = _batch()
  key = jax.random.key(5)
  _, _, best_m, _ = patch.search(_toy_logits, x, src, tgt, key, side=SIDE,
                                 steps=5, screen_steps=2, keep=1, restarts=1,
                                 n_random=0, step_size=0.1)
  k_rand = jax.random.fold_in(key, 0)
  locs = patch.random_locations(jax.random.fold_in(k_rand, 1), 6, SIDE, H, W)
  keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.fold_in(k_rand, 2),
                                               i))(jnp.arange(6))
  _, m, _ = patch.train_patches(_toy_logits, x, src, tgt, locs, keys,
                                side=SIDE, steps=5, step_size=0.1)
  assert np.all(np.asarray(best_m) >= np.asarray(m))
