"""Wilson intervals against published values (Newcombe 1998, Table II)."""

import pytest

from mdr import intervals


@pytest.mark.parametrize("k,n,low,high", [
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)])
def test_wilson_matches_newcombe(k, n, low, high):
  got = intervals.wilson(k, n)
  assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_is_symmetric_and_contains_the_share():
  for n in (1, 7, 200):
    for k in range(n + 1):
      lo, hi = intervals.wilson(k, n)
      assert 0 <= lo <= k / n <= hi <= 1
      lo2, hi2 = intervals.wilson(n - k, n)
      assert lo == pytest.approx(1 - hi2) and hi == pytest.approx(1 - lo2)


def test_bad_counts_are_refused():
  with pytest.raises(ValueError, match="k=3, n=2"):
    intervals.wilson(3, 2)
  assert intervals.wilson_text(1, 2).startswith("50.0 % [")
