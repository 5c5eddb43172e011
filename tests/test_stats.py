"""experiments/stats.py: Welch's t-test and the verdict words."""

import math
import os
import sys

import pytest

from experiments import stats


def test_welch_matches_reference_values():
  # Reference: scipy 1.17 stats.ttest_ind(a, b, equal_var=False): t, p, df.
  r = stats.welch([1, 2, 3], [4, 5, 7])
  assert r["t"] == pytest.approx(-3.1622777, abs=1e-6)
  assert r["df"] == pytest.approx(3.4482759, abs=1e-6)
  assert r["p"] == pytest.approx(0.0419145, abs=1e-5)
  r = stats.welch([80.1, 80.9], [70.2, 72.0])
  assert r["t"] == pytest.approx(9.5442540, abs=1e-5)
  assert r["p"] == pytest.approx(0.0315677, abs=1e-5)


def test_verdict_words_follow_the_test():
  big = stats.welch([80.1, 80.9], [70.2, 72.0])
  assert stats.verdict(big, +1) == "supported"
  assert stats.verdict(big, -1) == "contradicted"
  small = stats.welch([1, 1.5], [1.2, 1.1, 1.3])
  assert small["p"] == pytest.approx(0.875037, abs=1e-5)
  assert stats.verdict(small, +1) == "inconclusive at n = 2 + 3"
  same = stats.welch([2, 2], [2, 2])
  assert same["p"] == 1.0 and stats.verdict(same) == "inconclusive at n = 2 + 2"
  apart = stats.welch([3, 3], [2, 2])
  assert apart["p"] == 0.0 and math.isinf(apart["t"])
  with pytest.raises(ValueError, match=">= 2 values"):
    stats.welch([1], [1, 2])
  assert "p = 0.0316 (n = 2 vs 2)" in stats.describe(big)


def test_one_sample_and_paired_tests_match_reference_values():
  # t = 2 / (1 / sqrt 3) = 3.4641, df = 2: p = 1 - 3.4641 / sqrt(3.4641² + 2)
  # (the t distribution with 2 degrees of freedom in closed form).
  r = stats.one_sample([1, 2, 3])
  assert r["t"] == pytest.approx(3.4641016, abs=1e-6) and r["df"] == 2
  assert r["p"] == pytest.approx(1 - 3.4641016 / math.sqrt(12 + 2), abs=1e-6)
  assert stats.verdict(r) == "inconclusive at n = 3"
  assert "t = 3.46, df = 2, p = 0.0742 (n = 3)" in stats.describe(r)
  with pytest.raises(ValueError, match=">= 2 values"):
    stats.one_sample([1])


def test_claim_tests_subtract_the_threshold_and_pair_one_models_cells():
  from experiments import claims  # pylint: disable=g-import-not-at-top
  # Welch against a threshold: 72 vs 73 +- 1 is within 3 points, but at
  # n = 2 + 3 not significantly (the report's claim (c) on such numbers).
  test, word = claims.test_difference([72.0, 72.0], [74.0, 72.0, 73.0],
                                      threshold=-3.0, direction=+1)
  assert test["t"] == pytest.approx(2 / math.sqrt(1 / 3))
  assert word == "inconclusive at n = 2 + 3"
  assert "Δ = -1.00 points against -3" in stats.describe(test)
  # Paired: the same 3 models' two cells differ by 10 +- 0.5: a one-sample
  # test of the differences, not Welch's test of two noisy samples.
  test, word = claims.test_difference([80.0, 70.5, 91.0], [70.0, 61.0, 80.5],
                                      direction=+1, paired=True)
  assert test["kind"] == "paired" and test["n_a"] == 3 and "n_b" not in test
  assert word == "supported"
  welch, _ = claims.test_difference([80.0, 70.5, 91.0], [70.0, 61.0, 80.5])
  assert welch["p"] > 0.2          # the seed spread hides it unpaired
  # Fewer than two seeds: no test, and the verdict says so.
  assert claims.test_difference([1.0], [2.0, 3.0]) == (
      None, "inconclusive at n = 1 + 2 (no test)")
  test, word = claims.test_difference([60.0, 60.5], [64.0, 62.0, 63.0],
                                      direction=+1)
  assert word == "contradicted"


def test_every_seed_criterion_needs_two_seeds_for_a_verdict():
  from experiments import claims  # pylint: disable=g-import-not-at-top
  claim = claims.CLAIM["b"]

  def summary(visible):
    return {"clean": dict(visible_at_50=dict(per_seed=[(1.0, 0.9)]),
                          sparse={}),
            "m": dict(visible_at_50=dict(per_seed=[(v, v) for v in visible]),
                      sparse={})}

  # One seed at 10 % visible passes the rule, but one seed is no verdict.
  out = claims.evaluate(claim, summary([0.1]), "m")["visible"]
  assert out.verdict == "inconclusive at n = 1 (fewer than 2 seeds)"
  assert not out.passed and out.value == [0.1]
  assert claims.evaluate(claim, summary([0.6]), "m")["visible"].verdict == (
      "inconclusive at n = 1 (fewer than 2 seeds)")
  assert claims.evaluate(claim, summary([0.1, 0.1]), "m")["visible"].verdict \
      == "supported"
  # Every seed must pass: one of two at 20 % visible fails it.
  out = claims.evaluate(claim, summary([0.1, 0.2]), "m")["visible"]
  assert out.verdict == "not supported" and not out.passed
  assert claims.claim_verdict({"visible": claims.evaluate(
      claim, summary([0.1]), "m")["visible"]}).startswith("inconclusive")
