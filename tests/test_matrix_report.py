"""experiments/matrix_report.py on hand-made result trees."""

import json
import os
import shutil
import sys

from experiments import adversarial_report
from experiments import matrix_report

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
E8 = "airbench_w0.25_e8"
E3 = "airbench_w0.25_e3"


def _write(path, obj):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    json.dump(obj, f)


def _config(epochs, fill="zero", mode="clean"):
  return {"model": {"name": "airbench", "width": 0.25},
          "train": {"epochs": epochs, "mode": mode}, "eval": {"fill": fill}}


def _seed(d, clean, sweep, epochs, status="done", sparse=None,
          robustness=None, fill=True, fgsm=None, mode=None):
  """One seed directory; ``sweep``: {(attack, ratio): accuracy}."""
  _write(d / "run.json", {"status": status, "commit": "abc"})
  if status != "done":
    return
  _write(d / "clean.json", {"accuracy": clean, "n": 10000})
  extra = {"fill": "zero"} if fill else {}
  _write(d / "mask_sweep.json", [
      dict(attack=a, ratio=r, hidden_pixels=0, accuracy=acc, std=0.0,
           n=250 if a == "alpha_exhaustive" else 10000, **extra)
      for (a, r), acc in sweep.items()])
  if mode is None:   # the objective the run's name says (adversarial_report)
    group = adversarial_report.group_of(d.parent.name)
    mode = ("clean" if group is None or group == "clean" else
            "m2at" if group.startswith("m2at") else group)
  _write(d / "config.json", _config(epochs, mode=mode))
  if sparse is not None:
    _write(d / "sparse_pixels.json", [
        dict(attack="gamma", ratio=r, hidden_pixels=0, accuracy=acc,
             std=0.0, n=10000, **extra) for r, acc in sparse.items()])
  if robustness is not None:
    _write(d / "robustness.json", {"n": 500, "records": [
        {"attack": "pgd", "kind": "sweep", "loss": "ce", "eps": e / 255,
         "accuracy": acc, "n": 500, "steps": 20}
        for e, acc in robustness.items()] + [
            {"attack": "fgsm", "kind": "sweep", "loss": "ce", "eps": e / 255,
             "accuracy": acc, "n": 500, "steps": 1}
            for e, acc in (fgsm or {}).items()], "checks": []})


def _tree(root):
  """MDR clean (2 done seeds, one running), mixed (1 seed, no α-pixels),
  masked (running only); the standard and one random-mask network with a
  transfer matrix; PGD-AT with a patch evaluation on seed 0 only."""
  full = lambda a, b: {("alpha", 0.2): a, ("alpha_exhaustive", 0.2): a - 5,
                       ("beta", 0.2): b, ("gamma", 0.2): b - 20,
                       ("alpha_pixels", 0.2): a - 10, ("alpha", 0.0): 80.0}
  s0 = full(40.0, 50.0)
  s1 = full(41.0, 52.0)
  del s1[("alpha_exhaustive", 0.2)]     # α* measured on seed 0 only
  _seed(root / "clean" / "seed0", 80.0, s0, 8.0, sparse={0.9: 20.0})
  _seed(root / "clean" / "seed1", 82.0, s1, 8.0, sparse={0.9: 25.0,
                                                         0.99: 11.0})
  _seed(root / "clean" / "seed2", 0.0, {}, 8.0, status="running")
  # The mean fill's files must not be read by the zero-fill columns.
  _write(root / "clean" / "seed0" / "mask_sweep_mean.json", [dict(
      attack="alpha", fill="mean", ratio=0.2, hidden_pixels=0,
      accuracy=99.0, std=0.0, n=10000)])
  mixed = full(60.0, 62.0)
  del mixed[("alpha_pixels", 0.2)]
  _seed(root / "mixed" / "seed0", 70.0, mixed, 8.0, sparse={0.9: 33.0})
  _seed(root / "masked" / "seed0", 0.0, {}, 8.0, status="running")

  rm = root / "random_mask"
  three = lambda a: {("alpha", 0.2): a, ("beta", 0.2): a, ("gamma", 0.2): a}
  _seed(rm / E8 / "seed0", 82.0, three(30.0), 8.0, fill=False,
        robustness={8: 0.0, 16: 0.0})
  _seed(rm / E8 / "seed1", 84.0, three(32.0), 8.0, fill=False,
        robustness={8: 1.0})
  _seed(rm / f"{E8}_rm0.5" / "seed0", 70.0, three(35.0), 8.0, fill=False,
        robustness={8: 0.0})
  _seed(rm / f"{E8}_rm0.5" / "seed1", 72.0, three(37.0), 8.0, fill=False)
  rec = lambda src, tgt, acc, setting="pgd16": dict(
      setting=setting, source=src, target=tgt, n=100, source_fooled=100,
      kept=80, accuracy=acc, follow=50.0)
  _write(rm / "transfer" / "run.json", {"status": "done"})
  _write(rm / "transfer" / "transfer.json", {
      "images": 100,
      "sources": [f"/w/fast_cpu/{E8}_seed0", f"/w/random_mask/{E8}_seed1",
                  "/w/fast_cpu/resnet_small_seed0"],
      "settings": {"pgd16": {"display": "PGD-20 ε=16 step 1"}},
      "records": [
          rec(f"{E8}_seed0", f"{E8}_seed0", 0.0),
          rec(f"{E8}_seed1", f"{E8}_seed0", 4.0),
          rec(f"{E8}_seed0", f"{E8}_seed1", 6.0),
          rec("resnet_small_seed0", f"{E8}_seed1", 50.0),   # not standard
          rec(f"{E8}_seed0", f"{E8}_rm0.5_seed0", 20.0),
          rec(f"{E8}_seed1", f"{E8}_rm0.5_seed0", 30.0),
          rec(f"{E8}_seed0", f"{E8}_rm0.5_seed1", 40.0),
          rec(f"{E8}_seed1", f"{E8}_rm0.5_seed1", 40.0, "fgsm8"),  # other
      ]})

  adv = root / "adversarial"
  for seed, clean in ((0, 40.0), (1, 42.0)):
    d = adv / f"{E3}_pgd_at" / f"seed{seed}"
    _seed(d, clean, three(20.0 + seed), 3.0, fill=False,
          robustness={8: 24.0 + seed})
    patch = {"n": 100, "records": [
        {"attack": "lavan", "variant": v, "domain": dom, "side": 5,
         "pixels": 25, "n": 30, "hit_target": hit, "not_source": 90.0}
        for v, dom, hit in (("per_image", "image", 5.0 + seed),
                            ("per_image", "network", 60.0),
                            ("universal", "image", 15.0),
                            ("universal", "network", 95.0))]}
    # seed 0's later evaluation is done; seed 1's still runs: not counted.
    _write(d / "extra_eval" / "run.json",
           {"status": "done" if seed == 0 else "running"})
    _write(d / "extra_eval" / "patch.json", patch)


def _row(rows, name):
  (row,) = [r for r in rows if r["name"] == name]
  return row


def test_cells_are_means_over_the_seeds_that_measured_them(tmp_path):
  _tree(tmp_path)
  rows = matrix_report.matrix(str(tmp_path))
  assert [r["name"] for r in rows] == [
      "clean", "mixed", E8, f"{E8}_rm0.5", f"{E3}_pgd_at"]
  clean = _row(rows, "clean")
  assert clean["seeds"] == 2            # seed 2 runs: skipped
  assert (clean["group"], clean["network"], clean["epochs"]) == (
      "mdr", "airbench w0.25", 8.0)
  c = clean["cells"]
  assert (c["clean"]["value"], c["clean"]["n"]) == (81.0, 2)
  assert (c["alpha@0.2"]["value"], c["alpha@0.2"]["n"]) == (40.5, 2)
  assert (c["alpha_exhaustive@0.2"]["value"],
          c["alpha_exhaustive@0.2"]["n"]) == (35.0, 1)
  assert c["alpha_exhaustive@0.2"]["missing"] == {
      1: "no alpha_exhaustive in mask_sweep.json"}
  assert (c["sparse@0.9"]["value"], c["sparse@0.9"]["n"]) == (22.5, 2)
  assert c["pgd@8"] == dict(value=None, n=0, seeds=[], missing={
      0: "no robustness.json", 1: "no robustness.json"})
  std = _row(rows, E8)["cells"]
  # Standard targets: the other standard seed only (never the target
  # itself, never resnet_small).
  assert std["transfer_pgd16"]["value"] == 5.0
  assert std["pgd@8"]["value"] == 0.5
  rm = _row(rows, f"{E8}_rm0.5")["cells"]
  # Per target seed the mean over the standard sources: (25 + 40) / 2.
  assert rm["transfer_pgd16"]["value"] == 32.5
  assert (rm["pgd@8"]["value"], rm["pgd@8"]["n"]) == (0.0, 1)
  pgd_at = _row(rows, f"{E3}_pgd_at")
  assert pgd_at["epochs"] == 3.0
  p = pgd_at["cells"]
  assert (p["lavan_per_image"]["value"], p["lavan_per_image"]["n"]) == (
      5.0, 1)
  assert p["lavan_universal"]["value"] == 15.0
  assert p["pgd@8"]["value"] == 24.5
  assert p["transfer_pgd16"]["missing"] == {
      0: "no finished adversarial/transfer/transfer.json",
      1: "no finished adversarial/transfer/transfer.json"}
  # The MDR group has a transfer matrix of its own, not written here.
  assert c["transfer_pgd16"]["missing"] == {
      0: "no finished transfer/transfer.json",
      1: "no finished transfer/transfer.json"}


def test_mdr_transfer_from_the_clean_seeds(tmp_path):
  """The MDR rows' transfer cells come from transfer/transfer.json
  (cifar10.py --transfer): sources are the clean seeds, never the target
  itself; the sentence names both groups' sources."""
  _tree(tmp_path)
  rec = lambda src, tgt, acc: dict(
      setting="pgd16", source=src, target=tgt, n=100, source_fooled=100,
      kept=80, accuracy=acc, follow=50.0)
  _write(tmp_path / "transfer" / "run.json", {"status": "done"})
  _write(tmp_path / "transfer" / "transfer.json", {
      "images": 100,
      "sources": ["/w/cifar10_cpu/clean_seed0", "/w/cifar10_cpu/clean_seed1"],
      "settings": {"pgd16": {"display": "PGD-20 ε=16 step 1"}},
      "records": [rec(s, t, acc) for s, t, acc in (
          ("clean_seed0", "clean_seed0", 0.0),
          ("clean_seed1", "clean_seed0", 3.0),
          ("clean_seed0", "clean_seed1", 5.0),
          ("clean_seed1", "clean_seed1", 0.0),
          ("clean_seed0", "mixed_seed0", 20.0),
          ("clean_seed1", "mixed_seed0", 30.0))]})
  rows = matrix_report.matrix(str(tmp_path))
  clean = _row(rows, "clean")["cells"]["transfer_pgd16"]
  assert (clean["value"], clean["n"]) == (4.0, 2)     # (3 + 5) / 2
  assert _row(rows, "mixed")["cells"]["transfer_pgd16"]["value"] == 25.0
  assert _row(rows, "mixed")["transfer_sources"] == [2]
  # The random-mask rows still read their own matrix.
  assert _row(rows, f"{E8}_rm0.5")["cells"]["transfer_pgd16"]["value"] == 32.5
  text = matrix_report.section(str(tmp_path), "rel")
  assert ("crafted on the standard network of the row's recipe, trained "
          "without masks (for the MDR rows clean_seed0, clean_seed1; for the "
          f"Random mask rows {E8}_seed0, {E8}_seed1; never on the target "
          "itself") in text
  # Running: not read.
  _write(tmp_path / "transfer" / "run.json", {"status": "running"})
  rows = matrix_report.matrix(str(tmp_path))
  assert _row(rows, "mixed")["cells"]["transfer_pgd16"]["n"] == 0


def test_adversarial_transfer_from_the_clean_training_run(tmp_path):
  """The adversarial rows read adversarial/transfer/transfer.json
  (extra_eval.py --group=adversarial --transfer): sources are the runs of
  clean training, never the target itself."""
  _tree(tmp_path)
  adv = tmp_path / "adversarial"
  three = lambda a: {("alpha", 0.2): a, ("beta", 0.2): a, ("gamma", 0.2): a}
  _seed(adv / E3 / "seed0", 70.0, three(30.0), 3.0, fill=False)
  rec = lambda src, tgt, acc: dict(
      setting="pgd16", source=src, target=tgt, n=100, source_fooled=100,
      kept=80, accuracy=acc, follow=50.0)
  _write(adv / "transfer" / "run.json", {"status": "done"})
  _write(adv / "transfer" / "transfer.json", {
      "images": 100, "sources": [f"/w/adversarial/{E3}_seed0"],
      "settings": {"pgd16": {"display": "PGD-20 ε=16 step 1"}},
      "records": [rec(f"{E3}_seed0", f"{E3}_seed0", 0.0),
                  rec(f"{E3}_seed0", f"{E3}_pgd_at_seed0", 60.0),
                  rec(f"{E3}_seed0", f"{E3}_pgd_at_seed1", 64.0)]})
  rows = matrix_report.matrix(str(tmp_path))
  cell = _row(rows, f"{E3}_pgd_at")["cells"]["transfer_pgd16"]
  assert (cell["value"], cell["n"]) == (62.0, 2)
  # Its only source is itself: no cell.
  assert _row(rows, E3)["cells"]["transfer_pgd16"]["n"] == 0
  text = matrix_report.section(str(tmp_path), "rel")
  assert f"for the Adversarial rows {E3}_seed0" in text


def test_section_table_and_paragraph(tmp_path):
  _tree(tmp_path)
  text = matrix_report.section(str(tmp_path), "rel")
  assert text.startswith("## Every model × every attack (CPU scale)\n")
  table = [l for l in text.splitlines() if l.startswith("| ")]
  assert len(table) == 1 + 5            # the header, one row per run
  # A cell on a subset of the test images carries the Wilson interval of
  # its seeds' images pooled (α* on 250 of the 10,000; PGD on 500 per seed,
  # two seeds: 5 of 1,000 for the standard row; LaVAN on the images each
  # seed classified correctly).
  assert ("| MDR · clean | airbench w0.25, 8 ep | 2 | 81.0 | 40.5 | "
          "35.0 [29.5, 41.3] (n=1) | 51.0 | 31.0 | 30.5 | 22.5 | — | — | — "
          "| — | — |" in table)
  assert ("| MDR · mixed | airbench w0.25, 8 ep | 1 | 70.0 | 60.0 | "
          "55.0 [49.0, 61.2] | 62.0 | 42.0 | — | 33.0 | — | — | — | — | — |"
          in table)
  assert ("| Random mask · standard (no masks) | airbench w0.25, 8 ep | 2 | "
          "83.0 | 31.0 | — | 31.0 | 31.0 | — | — | 0.5 [0.2, 1.2] | — | — | "
          "— | 5.0 |" in table)
  assert ("| Random mask · drop 0.5 | airbench w0.25, 8 ep | 2 | 71.0 | "
          "36.0 | — | 36.0 | 36.0 | — | — | 0.0 [0.0, 0.8] (n=1) | — | — | "
          "— | 32.5 |" in table)
  assert ("| Adversarial · PGD-AT | airbench w0.25, 3 ep | 2 | 41.0 | 20.5 "
          "| — | 20.5 | 20.5 | — | — | 24.5 [21.9, 27.3] | — | "
          "5.0 [1.8, 21.3] (n=1) ‡ | 15.0 [5.3, 29.7] (n=1) | — |" in table)
  # Its per-image patch (5 %) is below its universal one (15 %): the cell is
  # marked and the footnote says what it means.
  assert ("‡ A sanity check of the patch failed in Adversarial · PGD-AT "
          "seed 0 (per image below universal") in text
  assert not any("masked" in l for l in table)   # only a running seed
  assert "zero fill on 10,000 test images, α* (the worst-case square) on " \
      "250 of them" in text
  assert "PGD-20 on 500 test images" in text
  assert "every Random mask row, Adversarial · PGD-AT (no " \
      "alpha_exhaustive in mask_sweep.json)" in text
  assert "MDR · clean only on seed 0 (the other seeds: no alpha_exhaustive " \
      "in mask_sweep.json)" in text
  assert "**α-px 20 %**: not measured for MDR · mixed, every Random " \
      "mask row, Adversarial · PGD-AT (no alpha_pixels in mask_sweep.json)" \
      in text
  assert "not measured for every MDR row (no robustness.json)" in text
  assert "Random mask · drop 0.5 only on seed 0 (the other seeds: no " \
      "robustness.json)" in text
  assert "Adversarial · PGD-AT only on seed 0 (the other seeds: no " \
      "patch.json)" in text
  assert ("Rows differ in training length (`train.epochs` of each run's "
          "`config.json`: 3 epochs for Adversarial · PGD-AT; 8 epochs for "
          "every MDR row, every Random mask row), so compare within a "
          "training length.") in text


def test_running_runs_only_give_nothing(tmp_path):
  _seed(tmp_path / "clean" / "seed0", 0.0, {}, 8.0, status="running")
  _seed(tmp_path / "adversarial" / f"{E3}_pgd_at" / "seed0", 0.0, {}, 3.0,
        status="failed")
  assert matrix_report.matrix(str(tmp_path)) == []
  assert matrix_report.section(str(tmp_path), "rel") == ""


def test_write_stores_the_rows(tmp_path):
  _tree(tmp_path)
  path = matrix_report.write(str(tmp_path))
  assert path == os.path.join(str(tmp_path), "matrix.json")
  with open(path) as f:
    data = json.load(f)
  assert [c["key"] for c in data["columns"]][:3] == [
      "clean", "alpha@0.2", "alpha_exhaustive@0.2"]
  (clean,) = [r for r in data["rows"] if r["name"] == "clean"]
  assert clean["cells"]["alpha_exhaustive@0.2"]["value"] == 35.0
  assert clean["cells"]["alpha_exhaustive@0.2"]["n"] == 1


def test_committed_resnet8_files_without_fill(tmp_path):
  """The committed ResNet-8 seed (no "fill" in its records, no status in its
  run.json), given a done status and a clean.json, reads as the files say."""
  src = os.path.join(REPO, "experiments", "results", "cifar10_cpu_resnet8",
                     "clean", "seed0")
  dst = tmp_path / "clean" / "seed0"
  os.makedirs(dst)
  for name in ("mask_sweep.json", "sparse_pixels.json", "config.json"):
    shutil.copy(os.path.join(src, name), dst / name)
  with open(os.path.join(src, "mask_sweep.json")) as f:
    sweep = json.load(f)
  with open(os.path.join(src, "sparse_pixels.json")) as f:
    sparse = json.load(f)
  at = lambda recs, a, r: [x["accuracy"] for x in recs
                           if x["attack"] == a and abs(x["ratio"] - r) < 1e-9]
  (clean,) = at(sweep, "alpha", 0.0)
  _write(dst / "run.json", {"status": "done"})
  _write(dst / "clean.json", {"accuracy": clean})
  (row,) = matrix_report.matrix(str(tmp_path))
  assert row["network"] == "resnet_small" and row["epochs"] == 8.0
  for attack in ("alpha", "beta", "gamma", "alpha_pixels"):
    assert row["cells"][f"{attack}@0.2"]["value"] == at(sweep, attack,
                                                        0.2)[0]
  assert row["cells"]["sparse@0.9"]["value"] == at(sparse, "gamma", 0.9)[0]
  assert row["cells"]["alpha_exhaustive@0.2"]["n"] == 0


def test_catastrophic_overfitting_sources_and_patch_share(tmp_path):
  """FGSM-RS robust to FGSM (40 %) and not to PGD (1 %) on seed 1 only is
  marked † on that seed; PGD-AT (FGSM 30, PGD 24.5) is not. The standard
  rows' transfer cells average over one source, the random-mask rows' over
  two, and the sentence says so. The 5×5 patch is 2.4 % of the image."""
  _tree(tmp_path)
  adv = tmp_path / "adversarial" / f"{E3}_fgsm_rs"
  _seed(adv / "seed0", 50.0, {("alpha", 0.2): 1.0}, 3.0, fill=False,
        robustness={8: 20.0}, fgsm={8: 30.0})
  _seed(adv / "seed1", 50.0, {("alpha", 0.2): 1.0}, 3.0, fill=False,
        robustness={8: 1.0}, fgsm={8: 40.0})
  pgd = tmp_path / "adversarial" / f"{E3}_pgd_at" / "seed0"
  _seed(pgd, 40.0, {("alpha", 0.2): 20.0}, 3.0, fill=False,
        robustness={8: 24.0}, fgsm={8: 30.0})
  rows = matrix_report.matrix(str(tmp_path))
  assert _row(rows, f"{E3}_fgsm_rs")["catastrophic"] == [1]
  assert _row(rows, f"{E3}_pgd_at")["catastrophic"] == []
  # The same gap on a model not trained adversarially is not catastrophic
  # overfitting (there was no one-step attack to overfit to).
  _seed(tmp_path / "masked" / "seed0", 60.0, {("alpha", 0.2): 1.0}, 8.0,
        robustness={8: 0.0}, fgsm={8: 25.0}, mode="masked")
  rows = matrix_report.matrix(str(tmp_path))
  assert _row(rows, "masked")["catastrophic"] == []
  assert _row(rows, E8)["transfer_sources"] == [1]
  assert _row(rows, f"{E8}_rm0.5")["transfer_sources"] == [1, 2]
  text = matrix_report.section(str(tmp_path), "rel")
  (fgsm_line,) = [l for l in text.splitlines()
                  if l.startswith("| Adversarial · FGSM-RS")]
  assert "| 10.5 [8.7, 12.6] † |" in fgsm_line
  (pgd_line,) = [l for l in text.splitlines()
                 if l.startswith("| Adversarial · PGD-AT")]
  assert "†" not in pgd_line
  assert ("† Catastrophic overfitting (Wong et al. 2020) in Adversarial · "
          "FGSM-RS (fast AT) seed 1:") in text
  assert ("(1 source for Random mask · standard (no masks); 1 or 2 sources for "
          "Random mask · drop 0.5)") in text
  assert "a 5×5 patch (2.4 % of the image" in text


def test_a_run_json_without_status_counts_as_done_everywhere(tmp_path):
  """Runs made before run.json was written at the start have no status:
  both loaders (the report's and the matrix's) count them as done."""
  from experiments import report_load  # pylint: disable=g-import-not-at-top
  from experiments import group_results  # pylint: disable=g-import-not-at-top
  d = tmp_path / "clean" / "seed0"
  _seed(d, 80.0, {("alpha", 0.2): 40.0}, 8.0, sparse={0.9: 20.0})
  _write(d / "run.json", {"seed": 0, "commit": "abc"})
  assert [r["seed"] for r in group_results.load(str(tmp_path))["clean"]] == [0]
  assert [r["seed"] for r in report_load.load(str(tmp_path))["clean"]] == [0]
  _write(d / "run.json", {"seed": 0, "status": "running"})
  assert group_results.load(str(tmp_path)) == {}
  assert report_load.load(str(tmp_path)) == {}
