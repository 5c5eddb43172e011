"""Statistics for verdicts over seeds: Welch's t-test and its verdict words.

A verdict is made over trained models (seeds), not over test images: the
spread that matters for "does training X change Y" is the one between
independently trained models. With the few seeds a CPU affords, most tests
have little power, and the verdict says so ("inconclusive at n = 2").
"""

import math
import statistics

from jax.scipy.special import betainc

ALPHA = 0.05   # two-sided significance level of every verdict


def welch(a, b):
  """Welch's two-sample t-test of mean(a) - mean(b).

  Returns ``{"diff", "t", "df", "p", "n_a", "n_b"}``; ``p`` two-sided
  (from the t distribution's CDF via the regularised incomplete beta
  function). Needs at least 2 values in each sample; if both samples have
  zero variance, ``p`` is 0 for different means and 1 for equal ones.
  """
  a, b = [float(x) for x in a], [float(x) for x in b]
  if len(a) < 2 or len(b) < 2:
    raise ValueError(f"Welch's t-test needs >= 2 values per sample, got "
                     f"{len(a)} and {len(b)}")
  diff = statistics.fmean(a) - statistics.fmean(b)
  va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
  out = dict(diff=diff, n_a=len(a), n_b=len(b))
  if va + vb == 0:
    return dict(out, t=math.copysign(math.inf, diff) if diff else 0.0,
                df=float(len(a) + len(b) - 2), p=0.0 if diff else 1.0)
  t = diff / math.sqrt(va + vb)
  df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
  p = float(betainc(df / 2, 0.5, df / (df + t * t)))
  return dict(out, t=t, df=df, p=p)


def verdict(test, direction=+1, alpha=ALPHA):
  """``supported`` (significant in the claimed direction), ``contradicted``
  (significant against it) or ``inconclusive at n = a + b``."""
  if test["p"] < alpha:
    return "supported" if test["diff"] * direction > 0 else "contradicted"
  return f"inconclusive at n = {test['n_a']} + {test['n_b']}"


def describe(test, unit="points"):
  """``Δ = +1.23 points, Welch t = 4.5, df = 2.0, p = 0.046 (n = 2 vs 2)``."""
  return (f"Δ = {test['diff']:+.2f} {unit}, Welch t = {test['t']:.2f}, "
          f"df = {test['df']:.1f}, p = {test['p']:.3g} "
          f"(n = {test['n_a']} vs {test['n_b']})")
