"""experiments/lavan_report.py: the section reads finished results only and
prints their numbers as stored."""

import json
import os
import sys

from conftest import REPO

from experiments import lavan_report


def _write(root, name, status, success):
  d = root / "lavan_search" / name
  d.mkdir(parents=True)
  (d / "run.json").write_text(json.dumps(dict(status=status, command="cmd",
                                              commit="abcdef0123")))
  recs = [dict(domain="image", location=loc, success=s, k=k, n=200,
               ci95=[s - 5, s + 5])
          for loc, s, k in (("bottom_right", 1.5, 3), ("search", success, 121))]
  (d / "lavan.json").write_text(json.dumps(dict(
      weights="w.msgpack", n_correct=200, images=240, side=5,
      settings=dict(steps=300, screen_steps=50, restarts=1, keep=2),
      records=recs, flags=[dict(check="search >= random (image)",
                                passed=True)])))


def test_section_shows_finished_runs_with_their_numbers(tmp_path):
  assert lavan_report.section(str(tmp_path), "results") == ""
  _write(tmp_path, "done_run", "done", 60.5)
  _write(tmp_path, "running_run", "running", 99.0)
  text = lavan_report.section(str(tmp_path), "results")
  assert "done_run" in text and "running_run" not in text
  assert "| image | search | 60.5 | [55.5, 65.5] | 121 / 200 |" in text
  assert "(1.5 % in the image domain); searched, 60.5 %" in text
  assert "search >= random (image) passed" in text
