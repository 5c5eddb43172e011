"""mdr.benchmark: worst cases per image are never above their parts, every
row carries its Wilson interval, and a model that ignores its input resists
everything."""

import jax
import jax.numpy as jnp
import pytest

import mdr
from mdr import intervals

FAST = dict(ratios=(0.2,), exhaustive_images=16, patch_steps=8,
            patch_screen_steps=4, apgd_steps=5, pgd_steps=5)


def _toy(n=16, seed=0):
  w = 0.1 * jax.random.normal(jax.random.key(seed), (8 * 8 * 3, 10))
  logits_fn = lambda x: x.reshape(len(x), -1) @ w
  x = jax.random.uniform(jax.random.key(seed + 1), (n, 8, 8, 3))
  y = jnp.argmax(logits_fn(x), -1)
  y = y.at[:4].set((y[:4] + 1) % 10)   # four wrong: clean is 12 of 16
  return logits_fn, x, y


def test_worst_cases_are_never_above_their_parts_and_intervals_hold():
  logits_fn, x, y = _toy()
  result = mdr.benchmark(logits_fn, x, y, jax.random.key(3), suite="quick",
                         **FAST)
  assert result.get("clean")["k"] == 12 and result.get("clean")["n"] == 16
  combined = [r for r in result.records if r["of"]]
  assert {r["name"] for r in combined} == {"occlusion_worst@0.2",
                                           "pgd_worst", "ensemble"}
  for r in combined:
    for part in r["of"]:
      name = part if part in {p["name"] for p in result.records} else (
          f"{part}@0.2")
      assert r["k"] <= result.get(name)["k"], (r["name"], name)
  for r in result.records:
    lo, hi = intervals.wilson(r["k"], r["n"])
    assert r["interval"] == pytest.approx([100 * lo, 100 * hi])
    assert r["interval"][0] <= r["value"] <= r["interval"][1]
  # An attack never makes a wrong prediction right: at most the 12.
  for r in result.records:
    if r["attack"] not in ("clean", "lavan"):
      assert r["k"] <= 12, r["name"]
  # LaVAN is tried on the correctly classified images only.
  assert result.get("lavan_search")["n"] == 12
  assert result.to_json()["records"] == result.records
  assert "| ensemble |" in result.table()


def test_a_model_that_ignores_its_input_resists_every_attack():
  logits = jnp.eye(10)[3] * 5.0
  logits_fn = lambda x: jnp.broadcast_to(logits, (len(x), 10)) + 0 * x.sum()
  x = jax.random.uniform(jax.random.key(0), (12, 8, 8, 3))
  y = jnp.full((12,), 3)
  result = mdr.benchmark(logits_fn, x, y, jax.random.key(1), suite="quick",
                         **FAST)
  for r in result.records:
    want = 0.0 if r["attack"] == "lavan" else 100.0
    assert r["value"] == want, r["name"]


def test_bad_settings_are_named():
  logits_fn, x, y = _toy(4)
  with pytest.raises(ValueError, match="suite must be one of"):
    mdr.benchmark(logits_fn, x, y, jax.random.key(0), suite="huge")
  with pytest.raises(ValueError, match=r"unknown settings \['pgd_stepz'\]"):
    mdr.benchmark(logits_fn, x, y, jax.random.key(0), pgd_stepz=3)
  with pytest.raises(ValueError, match="images must be"):
    mdr.benchmark(logits_fn, x[0], y, jax.random.key(0))
