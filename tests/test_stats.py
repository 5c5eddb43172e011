"""experiments/stats.py: Welch's t-test and the verdict words."""

import math
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "experiments"))
import stats  # pylint: disable=g-import-not-at-top


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
