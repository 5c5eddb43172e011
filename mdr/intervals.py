"""Confidence intervals for the numbers evaluations report.

``wilson(k, n)``: the Wilson score interval of a proportion (k successes of
n), the interval every cell measured on a subset of the test split shows. It
stays inside [0, 1] and is not degenerate at 0 or n successes, unlike the
normal approximation.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054   # the standard normal's 0.975 quantile


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
  """The Wilson score interval ``(low, high)`` of ``k`` successes in ``n``
  trials, as fractions (default 95 %)."""
  if n <= 0 or not 0 <= k <= n:
    raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
  p = k / n
  z2 = z * z
  centre = (p + z2 / (2 * n)) / (1 + z2 / n)
  half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
  # At k = 0 (k = n) the bound is exactly 0 (1); rounding would miss it.
  low = 0.0 if k == 0 else max(0.0, centre - half)
  high = 1.0 if k == n else min(1.0, centre + half)
  return low, high


def wilson_text(k: int, n: int) -> str:
  """``"45.8 % [35.1, 56.9]"``: the share in percent with its 95 % interval."""
  low, high = wilson(k, n)
  return f"{100 * k / n:.1f} % [{100 * low:.1f}, {100 * high:.1f}]"
