"""experiments/random_mask_report.py on hand-made result files."""

import json
import os
import sys

from experiments import random_mask_report


def _write(path, obj):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    json.dump(obj, f)


def test_section_reports_groups_transfer_and_a_welch_verdict(tmp_path):
  clean = {("airbench_w0.25_e8", 0): 83.0, ("airbench_w0.25_e8", 1): 82.0,
           ("airbench_w0.25_e8_rm0.5", 0): 71.0,
           ("airbench_w0.25_e8_rm0.5", 1): 72.0}
  transfer = {"airbench_w0.25_e8_seed0": 20.0, "airbench_w0.25_e8_seed1": 22.0,
              "airbench_w0.25_e8_rm0.5_seed0": 60.0,
              "airbench_w0.25_e8_rm0.5_seed1": 64.0}
  for (run, seed), acc in clean.items():
    d = tmp_path / run / f"seed{seed}"
    _write(d / "run.json", {"status": "done", "commit": "abc"})
    _write(d / "clean.json", {"accuracy": acc})
    _write(d / "mask_sweep.json", [
        {"attack": "alpha", "ratio": 0.2, "accuracy": acc / 2}])
    _write(d / "robustness.json", {"records": [
        {"attack": "pgd", "kind": "sweep", "loss": "ce", "eps": 8 / 255,
         "accuracy": 0.0}], "checks": []})
  _write(tmp_path / "airbench_w0.25_e8_rm0.7" / "seed0" / "run.json",
         {"status": "running"})                       # not reported
  src = "resnet_small_seed0"
  _write(tmp_path / "transfer" / "transfer.json", {
      "images": 100, "sources": [f"/x/{src}"], "records": [
          dict(setting="pgd16", source=src, target=t, accuracy=a, kept=50,
               follow=10.0, n=100, source_fooled=90)
          for t, a in transfer.items()]})
  text = random_mask_report.section(str(tmp_path), "rel")
  assert "| standard (no masks) | 2 | 82.50 ± 0.71 |" in text
  assert "| random mask, drop 0.5 | 2 | 71.50 ± 0.71 |" in text
  assert "drop 0.7" not in text
  assert "| random mask, drop 0.5 | 62.0 ± 2.8 |" in text
  verdict = [l for l in text.splitlines() if l.startswith("- **random")][0]
  assert "Welch" in verdict and "n = 2 vs 2" in verdict
  assert "Δ = -11.00 points" in verdict and "Δ = +41.00 points" in verdict
  summary = json.load(open(tmp_path / "summary.json"))
  assert summary["tests"]["rm0.5"][f"transfer_from_{src}"]["verdict"] == \
      "supported"
  assert os.path.getsize(tmp_path / "random_mask.png") > 0


def test_a_transfer_matrix_older_than_the_runs_says_so(tmp_path, monkeypatch):
  """The paragraph appears only when the transfer predates the runs, and its
  conclusion follows rerun_check: identical cells → it describes these
  models; any difference → it describes the earlier ones."""
  _write(tmp_path / "transfer" / "run.json",
         {"status": "done", "commit": "1a8f4e8aaaa", "started":
          "2026-11-27T13:55:36"})
  runs = {"airbench_w0.25_e8": [{"run": {"started": "2026-12-03T17:58:00",
                                         "commit": "795afe2bbbb"}}]}
  seen = []

  def compare(results, before, result):
    seen.append((results, before))
    return result
  same = dict(same=12, different=[], unmatched=[], commits=["2de48d7"])
  monkeypatch.setattr(random_mask_report.rerun_check, "compare",
                      lambda r, b: compare(r, b, same))
  text = random_mask_report._transfer_provenance(runs, str(tmp_path))[0]
  assert seen == [(str(tmp_path), "2026-11-27T13:55:36")]
  assert "commit 1a8f4e8" in text and "retrained at 795afe2" in text
  assert "all 12 clean, mask-sweep and white-box cells" in text
  assert "describes these models" in text
  changed = dict(same=11, different=[("r", "seed0", ("clean",), 1.0, 2.0)],
                 unmatched=[], commits=["2de48d7"])
  monkeypatch.setattr(random_mask_report.rerun_check, "compare",
                      lambda r, b: compare(r, b, changed))
  text = random_mask_report._transfer_provenance(runs, str(tmp_path))[0]
  assert "in 1 of 12 shared cells" in text
  assert "describes the earlier models" in text
  # No history to compare with (e.g. a shallow clone): said, not guessed.
  none = dict(same=0, different=[], unmatched=["a", "b"], commits=[])
  monkeypatch.setattr(random_mask_report.rerun_check, "compare",
                      lambda r, b: compare(r, b, none))
  text = random_mask_report._transfer_provenance(runs, str(tmp_path))[0]
  assert "cannot be read here" in text and "describes" not in text
  # A transfer measured after the runs started needs no paragraph.
  runs["airbench_w0.25_e8"][0]["run"]["started"] = "2026-11-01T00:00:00"
  assert random_mask_report._transfer_provenance(runs, str(tmp_path)) == []
