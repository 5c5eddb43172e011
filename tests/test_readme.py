"""The README's code runs as printed and prints what its comments say."""

import contextlib
import io
import os
import re


from conftest import REPO
from mdr import masks


def _snippet(heading):
  text = open(os.path.join(REPO, "README.md")).read()
  after = text[text.index(heading):]
  return re.search(r"```python\n(.*?)```", after, re.S).group(1)


def test_masks_in_a_jitted_step_at_224_snippet_runs_as_printed():
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    exec(_snippet("### Masks inside your own jitted step, at 224×224"), {})  # pylint: disable=exec-used
  lines = out.getvalue().strip().splitlines()
  assert len(lines) == 3
  for line, ratio in zip(lines, [0.05, 0.1, 0.2]):
    got = [int(v) for v in re.findall(r"\d+", line.split(" ", 1)[1])]
    # example 0 is gamma (exactly round(ratio*H*W) pixels), 1 is alpha
    assert got == [int(masks.num_pixels(ratio, 224, 224)),
                   int(masks.side(ratio, 224, 224)) ** 2], line
    assert float(line.split()[0]) == ratio


def test_stored_model_snippet_runs_as_printed(monkeypatch):
  """The snippet's clean accuracy is the stored demo model's on those 500
  test images, and PGD lowers it."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from mdr import data, weights  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(REPO)
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    exec(_snippet("## Stored models: evaluate without retraining"), {})  # pylint: disable=exec-used
  clean, pgd = (float(v) for v in re.fullmatch(
      r"clean (\d\.\d{3}), PGD-10 at 8/255 (\d\.\d{3})",
      out.getvalue().strip()).groups())
  stored = weights.load(os.path.join(REPO, "experiments", "weights", "demo",
                                     "resnet_small", "seed0.msgpack"))
  test = data.load(stored.config.data).test
  x = jnp.asarray(test.images[:500]) / 255
  want = np.mean(np.argmax(stored.logits_fn(x), -1) == test.labels[:500])
  assert clean == round(float(want), 3) and 0 <= pgd < clean - 0.5


def test_benchmark_snippet_runs_as_printed():
  """The toy model's benchmark: the table has every row, the clean row is
  the whole set (the labels are the model's own predictions) and the last
  line is True."""
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    exec(_snippet("### One call: `mdr.benchmark`"), {})  # pylint: disable=exec-used
  text = out.getvalue().strip()
  assert text.splitlines()[-1] == "True"
  assert "| clean | no attack | 32 | 100.0 |" in text
  for row in ("alpha_exhaustive@0.2", "occlusion_worst@0.2", "pgd_worst",
              "apgd_t", "ensemble", "lavan_search"):
    assert f"| {row} |" in text
