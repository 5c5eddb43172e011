"""The rule that judges one of the seed's claims on a summary.

``CLAIMS`` (data: ``experiments/specs/seed_paper.py``, re-exported here with
its thresholds, ``Claim`` and ``Criterion``) holds the seed's central
observation and its claims (a)-(c), with the other reading of (b): for each,
the models it is tested on and its criteria. A criterion compares a
quantity of the report's summary (``report_stats.summarize``) — one cell of
a model, or that cell minus another — with a named threshold in a stated
direction, by a t-test over seeds (``stats``; two-sided, α =
``stats.ALPHA``): Welch's test for two models, a paired test for two cells
of one model (per-seed differences), a one-sample test for one cell; the
threshold is subtracted first. Its verdict is "supported" (significant in
the stated direction), "contradicted" (significant against it) or
"inconclusive at n = …" (not significant, or fewer than 2 seeds: no test).
A descriptive criterion (``every_seed``: each seed's value must pass) is
likewise "inconclusive" below EVERY_SEED_MIN seeds. ``evaluate`` judges one
claim on one model, criterion by criterion; the report words what they mean.

A quantity is ``(model, cell)``. Cells: ``"clean"`` (nothing hidden),
``"<attack>@<ratio>"`` (the mask sweep), ``"sparse@<ratio>"`` (the
sparse-pixel curve) and ``"visible_at_50"`` (per seed, the smallest visible
share still scoring FEW_PIXELS_ACCURACY). ``{model}`` stands for the model
under test and ``{past_half}`` for the sparse curve's first ratio above
HALF_HIDDEN.
"""

from __future__ import annotations

import collections
import operator
import statistics

from experiments import stats

# pylint: disable=unused-import
# The seed's claims and their thresholds are data (experiments/specs/
# seed_paper.py); they are re-exported here, where callers import them.
from experiments.specs.seed_paper import (
    CENTRAL_GAP, CLAIMS, FEW_PIXELS_ACCURACY, FEW_PIXELS_VISIBLE, HALF_HIDDEN,
    M, MIXED_CLEAN_DROP, MIXED_GAMMA_GAIN, RATIO, Claim, Criterion)
# pylint: enable=unused-import

EVERY_SEED_MIN = 2          # an every-seed criterion judges at least this
                            #   many seeds (as a test needs 2 per sample)

# value: the difference of means (or the mean); passed: verdict ==
# "supported"; test: the stats dict (None without one); verdict: its word.
Outcome = collections.namedtuple("Outcome", "value passed test verdict")

CLAIM = {c.name: c for c in CLAIMS}

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt,
        "<=": operator.le}


def seeds_of(summary, model, cell):
  """The per-seed values of a cell ("clean", "attack@ratio",
  "sparse@ratio", "visible_at_50") of a model, or None if not measured."""
  s = summary[model]
  if cell == "visible_at_50":
    return [measured for measured, _ in s["visible_at_50"]["per_seed"]]
  if cell == "clean":
    e = s["clean"]
  elif cell.startswith("sparse@"):
    e = s["sparse"].get(cell[len("sparse@"):])
  else:
    e = s["sweep"].get(cell)
  return None if e is None else list(e["seeds"])


def test_difference(a, b=None, threshold=0.0, direction=+1, paired=False):
  """(test dict or None, verdict) of ``mean(a) [- mean(b)] - threshold``.

  ``b`` None: one-sample t-test; ``paired``: on the per-seed differences;
  else Welch's test. Fewer than 2 values (per sample): no test,
  "inconclusive at n = …".
  """
  if b is not None and paired:
    a, b = [x - y for x, y in zip(a, b)], None
  if len(a) < 2 or (b is not None and len(b) < 2):
    n = f"{len(a)}" if b is None else f"{len(a)} + {len(b)}"
    return None, f"inconclusive at n = {n} (no test)"
  shifted = [x - threshold for x in a]
  test = (stats.one_sample(shifted) if b is None
          else stats.welch(shifted, b))
  test["threshold"] = threshold
  test["kind"] = ("paired" if paired else "one-sample") if b is None else (
      "Welch")
  return test, stats.verdict(test, direction)


def compare(summary, model, cell, base="clean"):
  """(model's mean, base model's mean, delta, Welch test or None, verdict)
  of one cell, or None where either is not measured. The verdict is
  two-sided: "supported" means a significant rise."""
  if model not in summary or base not in summary:
    return None
  a, b = seeds_of(summary, model, cell), seeds_of(summary, base, cell)
  if a is None or b is None:
    return None
  ma, mb = statistics.fmean(a), statistics.fmean(b)
  test, word = test_difference(a, b)
  return ma, mb, ma - mb, test, word


def past_half(summary):
  """The sparse curves' first ratio above HALF_HIDDEN (a summary key)."""
  past = sorted({float(r) for s in summary.values() for r in s["sparse"]
                 if float(r) > HALF_HIDDEN})
  return f"{past[0]:g}" if past else None


def tested_models(claim, summary):
  """The models of the summary that ``claim`` is tested on, in order."""
  if claim.models is None:
    return [m for m in summary if m not in claim.skip]
  return list(claim.models)


def passes(criterion, value):
  """Whether one value passes a criterion's threshold (None never does)."""
  return value is not None and _OPS[criterion.op](value, criterion.threshold)


def evaluate(claim, summary, model):
  """{criterion name: Outcome(value, passed, test, verdict)} of ``claim``
  on ``model``.

  None when a model the claim names is not in the summary. A criterion
  whose cells are not measured has value None and verdict "not measured".
  """
  names = dict(model=model, past_half=past_half(summary))

  def fill(ref):
    return tuple(x.format(**names) for x in ref)

  refs = [c.quantity for c in claim.criteria] + [
      c.minus for c in claim.criteria if c.minus is not None]
  if any(fill(ref)[0] not in summary for ref in refs):
    return None
  out = {}
  for c in claim.criteria:
    qm, qcell = fill(c.quantity)
    a = seeds_of(summary, qm, qcell)
    b = None if c.minus is None else seeds_of(summary, *fill(c.minus))
    if a is None or (c.minus is not None and b is None) or (
        c.every_seed and any(v is None for v in a)):
      out[c.name] = Outcome(None, False, None, "not measured")
      continue
    if c.every_seed:
      passed = all(passes(c, v) for v in a)
      if len(a) < EVERY_SEED_MIN:   # one seed passing or failing is no verdict
        word = f"inconclusive at n = {len(a)} (fewer than {EVERY_SEED_MIN} seeds)"
      else:
        word = "supported" if passed else "not supported"
      out[c.name] = Outcome(a, passed and word == "supported", None, word)
      continue
    value = statistics.fmean(a) - (0.0 if b is None else statistics.fmean(b))
    direction = +1 if c.op in (">", ">=") else -1
    paired = c.minus is not None and fill(c.minus)[0] == qm
    test, word = test_difference(a, b, c.threshold, direction, paired)
    out[c.name] = Outcome(value, word == "supported", test, word)
  return out


def claim_verdict(outcomes):
  """A claim's word from its criteria: "supported" if every one is,
  "not supported" if one is contradicted (or, descriptive, fails), else
  "inconclusive" (with the n of the first inconclusive test)."""
  words = [o.verdict for o in outcomes.values()]
  if all(w == "supported" for w in words):
    return "supported"
  if any(w in ("contradicted", "not supported") for w in words):
    return "not supported"
  return next((w for w in words if w.startswith("inconclusive")),
              "not measured")
