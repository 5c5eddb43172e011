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


def one_sample(a, mu=0.0):
  """One-sample t-test of mean(a) - mu (two-sided ``p``).

  For a paired comparison pass the per-seed differences. Returns
  ``{"diff", "t", "df", "p", "n_a"}``; needs at least 2 values; zero
  variance gives ``p`` 0 for a mean off ``mu`` and 1 on it.
  """
  a = [float(x) for x in a]
  if len(a) < 2:
    raise ValueError(f"a t-test needs >= 2 values, got {len(a)}")
  diff = statistics.fmean(a) - mu
  var = statistics.variance(a) / len(a)
  df = float(len(a) - 1)
  if var == 0:
    return dict(diff=diff, n_a=len(a), df=df, p=0.0 if diff else 1.0,
                t=math.copysign(math.inf, diff) if diff else 0.0)
  t = diff / math.sqrt(var)
  return dict(diff=diff, t=t, df=df, n_a=len(a),
              p=float(betainc(df / 2, 0.5, df / (df + t * t))))


def _n(test):
  return (f"{test['n_a']} + {test['n_b']}" if "n_b" in test
          else f"{test['n_a']}")


def verdict(test, direction=+1, alpha=ALPHA):
  """``supported`` (significant in the claimed direction), ``contradicted``
  (significant against it) or ``inconclusive at n = a + b`` (``n = a`` for
  a one-sample or paired test)."""
  if test["p"] < alpha:
    return "supported" if test["diff"] * direction > 0 else "contradicted"
  return f"inconclusive at n = {_n(test)}"


def describe(test, unit="points"):
  """``Δ = +1.23 points, Welch t = 4.5, df = 2.0, p = 0.046 (n = 2 vs 2)``;
  a one-sample or paired test: ``..., paired t = ..., (n = 3)``. A test of
  a difference against a threshold (``test["threshold"]``, subtracted before
  the test) shows the difference and the threshold: ``Δ = +41.38 points
  against 20, ...``."""
  thr = test.get("threshold", 0.0)
  delta = f"Δ = {test['diff'] + thr:+.2f} {unit}" + (
      f" against {thr:+g}" if thr else "")
  if "n_b" not in test:
    return (f"{delta}, t = {test['t']:.2f}, df = {test['df']:.0f}, "
            f"p = {test['p']:.3g} (n = {test['n_a']})")
  return (f"{delta}, Welch t = {test['t']:.2f}, "
          f"df = {test['df']:.1f}, p = {test['p']:.3g} "
          f"(n = {test['n_a']} vs {test['n_b']})")
