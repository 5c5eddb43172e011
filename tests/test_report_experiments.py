"""experiments/report.py: aggregation, the 50 % threshold, the report text."""

import json
import os

import pytest

from experiments import report
RATIOS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2)
SPARSE = (0.0, 0.5, 0.9, 0.99)


def test_visible_at_threshold():
  curve = [(0.0, 90.0), (0.5, 70.0), (0.9, 40.0), (0.99, 10.0)]
  measured, interp = report.visible_at_threshold(curve)
  assert measured == pytest.approx(0.5)
  # Crossing at hidden 0.5 + 20/30 * 0.4 = 0.7667 -> visible 0.2333.
  assert interp == pytest.approx(1 - (0.5 + 20 / 30 * 0.4))
  # Never below 50: the last grid point; below at ratio 0: none.
  assert report.visible_at_threshold([(0.0, 90.0), (0.99, 60.0)]) == (
      pytest.approx(0.01), pytest.approx(0.01))
  assert report.visible_at_threshold([(0.0, 40.0), (0.5, 20.0)]) == (None,
                                                                      None)
  # Order of the input does not matter.
  assert report.visible_at_threshold(curve[::-1]) == (measured, interp)


def _records(acc, std=0.0):
  """acc(attack, ratio) -> accuracy; the eval schema."""
  return [dict(attack=a, ratio=r, hidden_pixels=int(round(r * 1024)),
               accuracy=acc(a, r), std=std, n=10000)
          for a in report.ATTACKS for r in RATIOS]


def _write_run(root, model, seed, sweep, sparse, wall=600.0):
  d = os.path.join(root, "cifar10_cpu", model, f"seed{seed}")
  os.makedirs(d)
  with open(os.path.join(d, "mask_sweep.json"), "w") as f:
    json.dump(sweep, f)
  with open(os.path.join(d, "sparse_pixels.json"), "w") as f:
    json.dump(sparse, f)
  with open(os.path.join(d, "config.json"), "w") as f:
    json.dump({"train": {"epochs": 8.0}, "model": {"name": "resnet_small"},
               "eval": {"fill": "zero", "draws": 2, "sparse_draws": 3}}, f)
  with open(os.path.join(d, "run.json"), "w") as f:
    json.dump(dict(model=model, seed=seed, wall_s=wall, commit="abc" * 13 + "d",
                   command=f"python -m mdr.main --config=configs/{model}.py:cpu",
                   machine={"cpus": 2, "devices": "1 x cpu"}), f)


def _sparse(accs, std=0.5):
  return [dict(attack="gamma", ratio=r, hidden_pixels=int(round(r * 1024)),
               accuracy=a, std=std, n=10000) for r, a in zip(SPARSE, accs)]


def _clean_acc(base):
  # Clean model: gamma collapses, squares degrade slowly.
  return lambda a, r: base - (300 * r if a == "gamma" else 50 * r)


def _fixture(root):
  """clean: 3 seeds (clean 74, 72, 73: mean 73, std 1); masked: 3 seeds
  (70.5, 70, 69.5, every attack costs 1 point at 20 %); masked_all: 1 seed;
  mixed: 2 identical seeds; masked_sparse: 2 seeds, below clean under the
  squares."""
  for seed, base, sp in ((0, 74.0, [74.0, 20.0, 10.0, 10.0]),
                         (1, 72.0, [72.0, 22.0, 10.0, 10.0]),
                         (2, 73.0, [73.0, 21.0, 10.0, 10.0])):
    _write_run(root, "clean", seed, _records(_clean_acc(base)), _sparse(sp))
  for seed in (0, 1):
    _write_run(root, "mixed", seed, _records(lambda a, r: 72.0 - 30 * r),
               _sparse([72.0, 66.0, 55.0, 20.0]))
  for seed, base in ((0, 70.5), (1, 70.0), (2, 69.5)):
    _write_run(root, "masked", seed, _records(
        lambda a, r, b=base: b - 5 * r, std=0.3),
               _sparse([65.0, 63.0, 58.0, 30.0], std=0.4))
  _write_run(root, "masked_all", 0, _records(
      lambda a, r: 73.0 - (15 * r if a in ("gamma", "alpha_pixels") else 40 * r)),
             _sparse([73.0, 30.0, 20.0, 10.0]))
  for seed, base in ((0, 60.0), (1, 60.5)):
    _write_run(root, "masked_sparse", seed, _records(
        lambda a, r, b=base: b - 5 * r), _sparse([60.0, 58.0, 55.0, 52.0]))


def test_build_report(tmp_path):
  root = str(tmp_path)
  _fixture(root)
  out_md = os.path.join(root, "README.md")
  text = report.build(results=root, out_md=out_md)
  with open(out_md) as f:
    assert f.read() == text

  summary = json.load(open(os.path.join(root, "cifar10_cpu", "summary.json")))
  # Fixed model order.
  assert list(summary) == ["clean", "masked", "masked_all", "mixed",
                           "masked_sparse"]
  # Three seeds: mean and sample std over seeds (74, 72, 73 -> 73 +- 1).
  assert summary["clean"]["clean"]["mean"] == pytest.approx(73.0)
  assert summary["clean"]["clean"]["seed_std"] == pytest.approx(1.0)
  g20 = summary["clean"]["sweep"]["gamma@0.2"]
  assert g20["mean"] == pytest.approx(73.0 - 60.0)
  assert g20["seeds"] == pytest.approx([14.0, 12.0, 13.0])
  # The draw spread is kept apart from the seed spread.
  b20 = summary["masked"]["sweep"]["beta@0.2"]
  assert b20["seed_std"] == pytest.approx(0.5)
  assert b20["draw_std"] == pytest.approx(0.3)
  # One seed: no seed spread; the rerun check's unit is the draws' std.
  one = summary["masked_all"]["sweep"]["beta@0.2"]
  assert one["seed_std"] is None and one["spread"] == 0.0
  assert summary["masked"]["sparse"]["0.9"]["draw_std"] == pytest.approx(0.4)
  assert summary["clean"]["wall_min"] == [10.0, 10.0, 10.0]

  # The matrix: the seed paper's row and ours, in the seed's column order.
  assert ("| **seed paper** (ResNet, clean) | — | 93.89 | 89.98 | 86.90 | "
          "81.48 | 74.12 | 67.11 | 91.") not in text  # α* is not the seed's
  assert ("| **seed paper** (ResNet, clean) | — | 93.89 | 89.98 | 86.90 | "
          "81.48 | 74.12 | 67.11 | — | — | — | — | — | 90.20 |") in text
  assert "| clean | 3 | 73.00 | 72.00 | 70.50 | 68.00 | 65.50 | 63.00 |" in text
  # Per-attack table cells: seed std; draw std where the masks are random.
  assert "| clean | 73.00 ± 1.00 |" in text
  assert "| masked | 70.00 ± 0.50 (d 0.30) |" in text
  # The central observation: beta20 - gamma20 = 50 on every seed: a paired
  # test against the 20-point threshold with zero variance.
  assert ("a gap of 50.00 points" in text and "far below β at 20 % on a "
          "clean-trained model: supported.**" in text)
  assert "supported (Δ = +50.00 points against +20, t = inf, df = 2, p = 0 "       "(n = 3))" in text
  # (a) masked: 3 points lower clean, 6 higher under every attack; Welch.
  t_clean = -3.0 / (0.25 / 3 + 1 / 3) ** 0.5
  assert (f"`masked`: supported.** Against `clean`: clean accuracy lower: "
          f"supported (Δ = -3.00 points, Welch t = {t_clean:.2f}, df = 2.9"
          in text)
  # masked_all has one seed: no test.
  assert ("`masked_all`: inconclusive at n = 1 + 3 (no test).**" in text)
  # masked_sparse: below clean under the squares: contradicted.
  assert "`masked_sparse`: not supported.**" in text
  assert "α: contradicted (Δ = -3.75 points" in text
  # (b): masked keeps >= 50 % down to 10 % visible (58 at 90 % hidden).
  assert "| masked | 10 %, 10 %, 10 % | " + ", ".join(
      [f"{(1 - (0.9 + 8 / 28 * 0.09)) * 100:.1f} %"] * 3) + " |" in text
  assert "supported for `masked`, `mixed`, `masked_sparse`" in text
  assert "at least 50 % for `masked`, `mixed`, `masked_sparse`." in text
  # (c): mixed 72 (two equal seeds) vs 73 +- 1: within 3 points, but at
  # n = 2 + 3 not significantly so (t = 2 / sqrt(1/3) = 3.46, df = 2,
  # p = 0.074); gamma +53 against the 30-point threshold: supported.
  assert ("resists all three attacks: inconclusive at n = 2 + 3.** Against "
          "`clean`: clean accuracy at most 3 points lower: inconclusive at "
          "n = 2 + 3 (Δ = -1.00 points against -3, Welch t = 3.46, df = 2.0, "
          "p = 0.0742 (n = 2 vs 3))") in text
  assert ("γ at 20 % more than 30 points higher: supported (Δ = +53.00 "
          "points against +30") in text
  assert "Each criterion is a t-test over seeds (two-sided, α = 0.05)" in text
  for name in ("all_sweeps.png", "all_sparse.png"):
    assert os.path.getsize(os.path.join(root, "cifar10_cpu", name)) > 10_000
  # Share of the accuracy above chance kept at 20 %: gamma (13-10)/(73-10).
  assert f"| γ (random pixels) | 4.9 % | {3 / 63 * 100:.1f} % |" in text
  assert "CIFAR-10 on one GPU: not run" in text
  assert "is the same at all of them (abcabcabca;" in text
  assert "No full rerun of a committed command has been compared" in text


def test_mean_fill_files_give_a_second_summary_and_the_claims_again(
    tmp_path):
  root = str(tmp_path)
  _fixture(root)
  # Mean fill for clean and masked: gamma hurts 30 points less.
  for model, seeds in (("clean", 3), ("masked", 3)):
    for seed in range(seeds):
      d = os.path.join(root, "cifar10_cpu", model, f"seed{seed}")
      for stem in ("mask_sweep", "sparse_pixels"):
        recs = json.load(open(os.path.join(d, f"{stem}.json")))
        for r in recs:
          r["fill"] = "mean"
          if r["attack"] == "gamma" and r["ratio"] > 0 and stem == \
              "mask_sweep":
            r["accuracy"] += 30.0
        json.dump(recs, open(os.path.join(d, f"{stem}_mean.json"), "w"))
  text = report.build(results=root, out_md=os.path.join(root, "R.md"))
  mean = json.load(open(os.path.join(root, "cifar10_cpu",
                                     "summary_mean.json")))
  assert list(mean) == ["clean", "masked"]
  assert mean["clean"]["sweep"]["gamma@0.2"]["mean"] == pytest.approx(43.0)
  assert "### Fill: zero against mean" in text
  assert ("`clean`: γ at 20 % under mean minus zero fill Δ = +30.00 points, "
          "t = inf") in text
  assert "**The claims again, with mean fill**" in text
  # Under mean fill the clean model's beta - gamma gap is 20 on each seed:
  # not significantly above the 20-point threshold.
  assert "a gap of 20.00 points" in text


def test_same_code_across_commits():
  assert report.same_code(["HEAD", "HEAD-dirty"]) is True
  assert report.same_code(["HEAD", "0" * 40]) is None


def test_check_compares_a_rerun_cell_by_cell(tmp_path):
  committed, rerun = str(tmp_path / "a"), str(tmp_path / "b")
  for root, shift in ((committed, 0.0), (rerun, 0.25)):
    _write_run(root, "clean", 0, _records(_clean_acc(74.0)),
               _sparse([74.0, 20.0, 10.0 + shift, 10.0]))
    _write_run(root, "clean", 1, _records(_clean_acc(72.0)),
               _sparse([72.0, 22.0, 10.0, 10.0]))
  rows = report.check(os.path.join(rerun, "cifar10_cpu"),
                      os.path.join(committed, "cifar10_cpu"))
  # 30 sweep cells (5 attacks x 6 ratios) + 4 sparse cells per seed; seed 0 differs by 0.25 once,
  # in a sparse cell whose committed spread (std over the two seeds) is 0:
  # beyond 1x and 2x its spread. The largest spread is sqrt(2) (74 vs 72).
  assert [(r["model"], r["seed"], r["cells"], r["max_abs_diff"], r["worst"],
           r["beyond_1x"], r["beyond_2x"]) for r in rows] == [
               ("clean", 0, 34, pytest.approx(0.25), "sparse gamma@0.9", 1, 1),
               ("clean", 1, 34, 0.0, "—", 0, 0)]
  assert rows[0]["largest_spread"] == pytest.approx(2 ** 0.5)
  assert rows[0]["worst_spread"] == 0.0
  assert rows[0]["wall_min"] == 10.0 and rows[0]["commit"] == "abc" * 13 + "d"
  # A difference smaller than the cell's spread is within it: seed 0's
  # gamma@0.5 cell has spread sqrt(2) (20 vs 22).
  rerun2 = str(tmp_path / "c")
  _write_run(rerun2, "clean", 0, _records(_clean_acc(74.0)),
             _sparse([74.0, 21.0, 10.0, 10.0]))
  (row,) = report.check(os.path.join(rerun2, "cifar10_cpu"),
                        os.path.join(committed, "cifar10_cpu"))
  assert (row["max_abs_diff"], row["worst"], row["beyond_1x"]) == (
      1.0, "sparse gamma@0.5", 0)
  assert row["worst_spread"] == pytest.approx(2 ** 0.5)
  # Against the committed mean ± spread: 21 is the mean of 20 and 22, and
  # every other cell sits 1/sqrt(2) spreads from its mean (74 vs 73).
  assert row["mean_beyond_1x"] == 0 and row["mean_beyond_2x"] == 0
  # The CLI writes rerun_check.json beside the committed results; the report
  # then shows it.
  report.main(["report.py", f"--results={committed}",
               f"--check={os.path.join(rerun, 'cifar10_cpu')}"])
  text = report.build(results=committed)
  assert "### Reproducibility" in text
  assert ("| clean | 0 | 34 | 0.2500 (sparse gamma@0.9, spread 0.00) | 1 / 1 "
          "| 1 / 1 | 1.41 | abcabcabca, 10.0 min, 2 CPUs |") in text
  assert ("`clean` seed 0: the rerun is not identical. 1 of 34 cells differ "
          "from the committed seed-0 numbers by more than their spread and 1 "
          "by more than twice it (largest difference 0.25 points, in sparse "
          "gamma@0.9); against the mean ± spread shown, 1 cells fall outside "
          "1× the spread and 1 outside 2×. Outside 2×: sparse gamma@0.9 "
          "(10.25 vs 10.00 ± 0.00): at most 0.25 points from the mean.") in text
  assert "`clean` seed 1: the rerun is identical" in text
  # The headline cells: committed, mean ± spread, rerun.
  assert "| clean | 0 | γ 20 % | 14.00 | 13.00 ± 1.41 | 14.00 |" in text
  assert "| clean | 1 | clean | 72.00 | 73.00 ± 1.41 | 72.00 |" in text


def test_build_without_results_says_what_to_run(tmp_path):
  with pytest.raises(SystemExit, match="run python -m experiments.run --group=mdr first"):
    report.build(results=str(tmp_path))


def test_provenance_records_cpu_and_versions():
  import jax  # pylint: disable=g-import-not-at-top
  from experiments import provenance  # pylint: disable=g-import-not-at-top
  assert provenance.versions()["jax"] == jax.__version__
  assert provenance.versions(("no-such-package-xyz",)) == {
      "no-such-package-xyz": None}
  assert isinstance(provenance.cpu_model(), str) and provenance.cpu_model()
