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
