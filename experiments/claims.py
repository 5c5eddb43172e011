"""The seed's claims as data, and the rule that judges one on a summary.

``CLAIMS`` holds the seed's central observation and its claims (a)-(c), with
the other reading of (b): for each, the models it is tested on and its
criteria. A criterion compares a quantity of the report's summary
(``report_stats.summarize``) — one cell of a model, or that cell minus
another — with a named threshold in a stated direction, by a t-test over
seeds (``stats``; two-sided, α = ``stats.ALPHA``): Welch's test for two
models, a paired test for two cells of one model (per-seed differences), a
one-sample test for one cell; the threshold is subtracted first. Its
verdict is "supported" (significant in the stated direction),
"contradicted" (significant against it) or "inconclusive at n = …" (not
significant, or fewer than 2 seeds: no test). A descriptive criterion
(``every_seed``: each seed's value must pass) is likewise "inconclusive"
below EVERY_SEED_MIN seeds. ``evaluate`` judges one claim
on one model, criterion by criterion; the report words what they mean.

A quantity is ``(model, cell)``. Cells: ``"clean"`` (nothing hidden),
``"<attack>@<ratio>"`` (the mask sweep), ``"sparse@<ratio>"`` (the
sparse-pixel curve) and ``"visible_at_50"`` (per seed, the smallest visible
share still scoring FEW_PIXELS_ACCURACY). ``{model}`` stands for the model
under test and ``{past_half}`` for the sparse curve's first ratio above
HALF_HIDDEN.
"""

from __future__ import annotations

import collections
import dataclasses
import operator
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stats  # pylint: disable=g-import-not-at-top

# Named thresholds. Accuracies and their differences are in points (%).
RATIO = 0.2                 # the hidden share the attacks are compared at
CENTRAL_GAP = 20.0          # central: β minus γ on `clean`, at least this
FEW_PIXELS_ACCURACY = 50.0  # (b): "more than 50 %", read as accuracy ...
FEW_PIXELS_VISIBLE = 0.10   # ... with at most this share of pixels visible
HALF_HIDDEN = 0.5           # (b), other reading: more than half hidden
MIXED_CLEAN_DROP = 3.0      # (c): clean accuracy at most this below `clean`
MIXED_GAMMA_GAIN = 30.0     # (c): γ at RATIO above `clean` by more than this
EVERY_SEED_MIN = 2          # an every-seed criterion judges at least this
                            #   many seeds (as a test needs 2 per sample)


@dataclasses.dataclass(frozen=True)
class Criterion:
  """``quantity [- minus] <op> threshold``, tested over seeds."""
  name: str
  quantity: tuple[str, str]          # (model, cell)
  op: str                            # ">", ">=", "<" or "<="
  threshold: float
  minus: tuple[str, str] | None = None  # (model, cell) subtracted
  every_seed: bool = False    # descriptive: every seed's value must pass


@dataclasses.dataclass(frozen=True)
class Claim:
  """A claim of the seed and the criteria it is judged by."""
  name: str
  statement: str                # the claim, as the report words it
  models: tuple[str, ...] | None  # tested on these; None: every model
  criteria: tuple[Criterion, ...]
  skip: tuple[str, ...] = ()    # left out when ``models`` is None


# value: the difference of means (or the mean); passed: verdict ==
# "supported"; test: the stats dict (None without one); verdict: its word.
Outcome = collections.namedtuple("Outcome", "value passed test verdict")

M = "{model}"  # the model under test


def _at(attack):
  return f"{attack}@{RATIO:g}"


CLAIMS = (
    Claim(
        "central",
        "γ at 20 % is far below β at 20 % on a clean-trained model",
        models=("clean",),
        criteria=(
            Criterion("gap", (M, _at("beta")), ">=", CENTRAL_GAP,
                 minus=(M, _at("gamma"))),
        )),
    Claim(
        "a",
        "A model trained on masked images loses some clean accuracy but "
        "resists mask attacks",
        models=("masked", "masked_all", "masked_sparse"),
        criteria=(
            Criterion("clean", (M, "clean"), "<", 0.0,
                 minus=("clean", "clean")),
            Criterion("alpha", (M, _at("alpha")), ">", 0.0,
                 minus=("clean", _at("alpha"))),
            Criterion("beta", (M, _at("beta")), ">", 0.0,
                 minus=("clean", _at("beta"))),
            Criterion("gamma", (M, _at("gamma")), ">", 0.0,
                 minus=("clean", _at("gamma"))),
        )),
    Claim(
        "b",
        "A mask-trained model classifies from only a few visible pixels, "
        "\"more than 50 %\"",
        models=None, skip=("clean",),
        criteria=(
            Criterion("visible", (M, "visible_at_50"), "<=", FEW_PIXELS_VISIBLE,
                 every_seed=True),
        )),
    Claim(
        "b_hidden",
        "classifies correctly with more than 50 % of the pixels hidden",
        models=None,
        criteria=(
            Criterion("accuracy", (M, "sparse@{past_half}"), ">=",
                 FEW_PIXELS_ACCURACY, every_seed=True),
        )),
    Claim(
        "c",
        "Clean + masked (mixed) training keeps clean accuracy and resists "
        "all three attacks",
        models=("mixed",),
        criteria=(
            Criterion("clean", (M, "clean"), ">=", -MIXED_CLEAN_DROP,
                 minus=("clean", "clean")),
            Criterion("gamma_rise", (M, _at("gamma")), ">", MIXED_GAMMA_GAIN,
                 minus=("clean", _at("gamma"))),
            Criterion("alpha", (M, _at("alpha")), ">", 0.0,
                 minus=("clean", _at("alpha"))),
            Criterion("beta", (M, _at("beta")), ">", 0.0,
                 minus=("clean", _at("beta"))),
            Criterion("gamma", (M, _at("gamma")), ">", 0.0,
                 minus=("clean", _at("gamma"))),
        )),
)
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
