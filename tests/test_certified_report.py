"""experiments/certified_report.py: the table reads the result files, the
verdict waits for enough seeds and corrects for the comparisons."""

import json
import os

import pytest

from experiments import certified_report as report


def test_holm_adjusts_in_input_order():
  assert report.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
  assert report.holm([0.5]) == [0.5]
  assert report.holm([0.2, 0.9]) == pytest.approx([0.4, 0.9])


def _write(root, results, run, seed, certified5, clean=70.0):
  d = os.path.join(root, results, run, f"seed{seed}",
                   "extra_eval_patch_cleanser")
  os.makedirs(d)
  records = [dict(patch=p, n=500, certified=c, certified_k=round(c * 5),
                  clean_accuracy=clean, passes=666, seconds=100.0)
             for p, c in ((2, certified5 + 3), (5, certified5))]
  with open(os.path.join(d, "patch_cleanser.json"), "w") as f:
    json.dump(dict(records=records, n=500), f)


def test_section_reads_the_files_and_waits_for_three_seeds(tmp_path):
  root = str(tmp_path)
  _write(root, "cifar10_cpu", "clean", 0, 4.2)
  _write(root, "cifar10_cpu", "mixed", 0, 9.0)
  smoothing = os.path.join(root, "cifar10_cpu", "certified")
  os.makedirs(smoothing)
  text = report.section(smoothing, "x")
  assert "| MDR: clean | PatchCleanser | 5×5 | 0 | 500 | 70.00 | 4.20 |" in text
  assert "| MDR: mixed | PatchCleanser | 5×5 | 0 | 500 | 70.00 | 9.00 |" in text
  assert "No verdict yet" in text and "mixed: +4.80 points" in text
  assert "Holm" in text and "supported" not in text.split("**")[-1]
  for seed, (c, m) in enumerate(((4.0, 12.0), (4.4, 12.5)), start=1):
    _write(root, "cifar10_cpu", "clean", seed, c)
    _write(root, "cifar10_cpu", "mixed", seed, m)
  text = report.section(smoothing, "x")
  assert "4.20 ± 0.20" in text and "11.17 ± 1.89" in text
  line = [l for l in text.splitlines() if l.startswith("- mixed:")][0]
  assert "Holm-adjusted p" in line and line.endswith("supported.")
