"""mdr.saliency against an analytic gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mdr import saliency


def _linear(w, b):
  return lambda x: x.reshape(x.shape[0], -1) @ w + b


def test_input_gradient_matches_analytic_linear_model():
  rng = np.random.default_rng(0)
  bsz, h, w, c, k = 3, 4, 5, 3, 7
  weights = rng.normal(size=(h * w * c, k)).astype(np.float32)
  bias = rng.normal(size=(k,)).astype(np.float32)
  images = rng.random((bsz, h, w, c), np.float32)
  labels = np.array([0, 3, 6])
  fn = jax.jit(lambda x, y: saliency.input_gradient(
      _linear(weights, bias), x, y))
  got = np.asarray(fn(images, labels))
  # d CE / d x = W (softmax(logits) - onehot(label)), per example.
  logits = images.reshape(bsz, -1) @ weights + bias
  p = np.exp(logits - logits.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  grad = (p - np.eye(k)[labels]) @ weights.T
  want = np.abs(grad.reshape(bsz, h, w, c)).max(-1)
  assert got.shape == (bsz, h, w)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  summed = saliency.input_gradient(_linear(weights, bias), images, labels,
                                   reduce="sum")
  np.testing.assert_allclose(summed, np.abs(grad.reshape(bsz, h, w, c)).sum(
      -1), rtol=1e-5, atol=1e-6)


def test_input_gradient_is_per_example():
  rng = np.random.default_rng(1)
  weights = rng.normal(size=(2 * 2 * 1, 3)).astype(np.float32)
  fn = _linear(weights, 0.0)
  images = rng.random((4, 2, 2, 1), np.float32)
  labels = np.array([0, 1, 2, 0])
  whole = saliency.input_gradient(fn, images, labels)
  alone = saliency.input_gradient(fn, images[2:3], labels[2:3])
  np.testing.assert_allclose(whole[2:3], alone, rtol=1e-6)


def test_input_gradient_errors():
  fn = _linear(np.ones((4, 2), np.float32), 0.0)
  with pytest.raises(ValueError, match=r"images must be float \[B, H, W, C\]"):
    saliency.input_gradient(fn, jnp.ones((2, 2, 1)), jnp.zeros(2, int))
  with pytest.raises(ValueError, match=r"labels must be int \[B\] = \[2\]"):
    saliency.input_gradient(fn, jnp.ones((2, 2, 2, 1)), jnp.zeros(3, int))
  with pytest.raises(ValueError, match="reduce must be one of"):
    saliency.input_gradient(fn, jnp.ones((2, 2, 2, 1)), jnp.zeros(2, int),
                            reduce="mean")
