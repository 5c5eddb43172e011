"""experiments/adversarial_report.py on hand-made result files."""

import json
import os
import sys

from experiments import adversarial_report


def _write(path, obj):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    json.dump(obj, f)


def _run(root, run, seed, clean, pgd8, status="done", strong=None,
         fgsm8=None):
  d = root / run / f"seed{seed}"
  _write(d / "run.json", {"status": status, "commit": "abc", "wall_s": 600})
  if status != "done":
    return
  _write(d / "clean.json", {"accuracy": clean})
  _write(d / "config.json", {"train": {"epochs": 3.0, "adv": {
      "steps": 2, "step": 4.0, "fgsm_step": 10.0}}, "model": {"width": 0.25}})
  _write(d / "mask_sweep.json", [
      {"attack": a, "ratio": 0.2, "accuracy": clean / 2}
      for a in ("alpha", "beta", "gamma")])
  recs = [{"attack": "pgd", "kind": "sweep", "loss": loss, "eps": 8 / 255,
           "accuracy": pgd8} for loss in ("ce", "margin")]
  recs.append({"attack": "fgsm", "kind": "sweep", "loss": "ce",
               "eps": 8 / 255, "accuracy": pgd8 + 5 if fgsm8 is None
               else fgsm8})
  _write(d / "robustness.json", {"records": recs, "checks": [
      {"check": "monotone_in_eps", "attack": "pgd", "passed": True,
       "detail": "ok"}]})
  if strong is not None:   # a later evaluation, in extra_eval/
    _write(d / "extra_eval" / "run.json", {"status": "done"})
    _write(d / "extra_eval" / "pgd_strong.json", {"accuracy": strong,
                                                   "n": 1000})
    _write(d / "extra_eval" / "patch.json", {"n": 150, "records": [
        {"variant": "per_image", "domain": "image", "hit_target": 12.5,
         "side": 5, "pixels": 25,
         "not_source": 40.0, "n": 120}]})


def test_claim_verdicts_follow_the_stated_rule(tmp_path):
  base = "airbench_w0.25_e3"
  for seed, (c, r) in enumerate([(60.0, 40.2), (60.2, 40.4)]):
    _run(tmp_path, f"{base}_pgd_at", seed, c, r, strong=r - 3)
  # Clean clearly higher, PGD equal: supported.
  for seed, (c, r) in enumerate([(70.0, 40.0), (70.4, 40.5)]):
    _run(tmp_path, f"{base}_m2at_square_mixup", seed, c, r)
  # Clean clearly higher but robustness clearly lower: not supported.
  for seed, (c, r) in enumerate([(70.0, 30.0), (70.3, 30.2)]):
    _run(tmp_path, f"{base}_m2at_pixels_cutmix", seed, c, r)
  _run(tmp_path, base, 0, 80.0, 0.0)
  _run(tmp_path, base, 1, 81.0, 0.0)
  _run(tmp_path, f"{base}_fgsm_rs", 0, 65.0, 35.0, status="running")
  _run(tmp_path, f"{base}_fgsm_rs", 1, 32.0, 0.0, fgsm8=42.0)  # overfit
  text = adversarial_report.section(str(tmp_path), "rel")
  assert "| clean training | 2 | 80.50 ± 0.71 |" in text
  assert "**PGD-2** (step 4/255" in text and "144 steps" in text
  assert "clean training 50 / 50 / 50 %" in text    # α/β/γ at half of clean
  assert "| PGD-AT | 2 | 60.10 ± 0.14 | 45.30 ± 0.14 | — | 40.30 ± 0.14 |" \
      in text
  assert "| FGSM-RS (fast AT) † | 1 | 32.00 | 42.00 |" in text
  assert "Catastrophic overfitting** (Wong et al. 2020) in FGSM-RS (fast " \
      "AT) seed 1:" in text
  assert "PGD-AT †" not in text   # 45 vs 40: not flagged
  summary = json.load(open(tmp_path / "summary.json"))
  tests = summary["tests"]
  assert tests["m2at_square_mixup"]["verdict"] == "supported"
  assert tests["m2at_square_mixup"]["clean"]["n_a"] == 2
  assert tests["m2at_pixels_cutmix"]["verdict"] == "not supported"
  assert tests["m2at_pixels_cutmix"]["robust"]["verdict"] == "contradicted"
  assert "PGD-AT seed 0: 37.20 % on 1,000 images" in text
  assert "| PGD-AT | 0 | 12.5 / 40.0 (n = 120) |" in text
  assert "a 5×5 patch (2.4 % of the image), the nearest square" in text
  assert "per image: the first 150 test images" in text
  assert os.path.getsize(tmp_path / "adversarial.png") > 0


def test_one_seed_is_not_tested(tmp_path):
  base = "airbench_w0.25_e3"
  _run(tmp_path, f"{base}_pgd_at", 0, 60.0, 40.0)
  _run(tmp_path, f"{base}_m2at_square_mixup", 0, 70.0, 40.0)
  text = adversarial_report.section(str(tmp_path), "rel")
  assert "Not tested: fewer than 2 seeds" in text
