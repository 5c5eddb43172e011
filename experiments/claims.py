"""The seed's claims as data, and the rule that judges one on a summary.

``CLAIMS`` holds the seed's central observation and its claims (a)-(c), with
the other reading of (b): for each, the models it is tested on and its
criteria. A criterion compares a quantity of the report's summary
(``report_stats.summarize``) — one cell of a model, or that cell minus
another — with a named threshold in a stated direction; a difference may
also have to exceed the seed-to-seed noise. ``evaluate`` judges one claim
on one model, criterion by criterion; the report words what the outcomes
mean.

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

# Named thresholds. Accuracies and their differences are in points (%).
RATIO = 0.2                 # the hidden share the attacks are compared at
NOISE_FACTOR = 2            # a difference counts beyond this × seed noise
CENTRAL_GAP = 20.0          # central: β minus γ on `clean`, at least this
FEW_PIXELS_ACCURACY = 50.0  # (b): "more than 50 %", read as accuracy ...
FEW_PIXELS_VISIBLE = 0.10   # ... with at most this share of pixels visible
HALF_HIDDEN = 0.5           # (b), other reading: more than half hidden
MIXED_CLEAN_DROP = 3.0      # (c): clean accuracy at most this below `clean`
MIXED_GAMMA_GAIN = 30.0     # (c): γ at RATIO above `clean` by more than this


@dataclasses.dataclass(frozen=True)
class Criterion:
  """Passes when ``quantity [- minus] <op> threshold`` (and beyond noise)."""
  name: str
  quantity: tuple[str, str]          # (model, cell)
  op: str                            # ">", ">=", "<" or "<="
  threshold: float
  minus: tuple[str, str] | None = None  # (model, cell) subtracted
  beyond_noise: bool = False  # |difference| > NOISE_FACTOR × seed_noise
  every_seed: bool = False    # a value per seed; every one must pass


@dataclasses.dataclass(frozen=True)
class Claim:
  """A claim of the seed and the criteria it is judged by."""
  name: str
  statement: str                # the claim, as the report words it
  models: tuple[str, ...] | None  # tested on these; None: every model
  criteria: tuple[Criterion, ...]
  skip: tuple[str, ...] = ()    # left out when ``models`` is None


Outcome = collections.namedtuple("Outcome", "value passed")

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
                 minus=("clean", "clean"), beyond_noise=True),
            Criterion("alpha", (M, _at("alpha")), ">", 0.0,
                 minus=("clean", _at("alpha")), beyond_noise=True),
            Criterion("beta", (M, _at("beta")), ">", 0.0,
                 minus=("clean", _at("beta")), beyond_noise=True),
            Criterion("gamma", (M, _at("gamma")), ">", 0.0,
                 minus=("clean", _at("gamma")), beyond_noise=True),
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
                 FEW_PIXELS_ACCURACY),
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
                 minus=("clean", _at("alpha")), beyond_noise=True),
            Criterion("beta", (M, _at("beta")), ">", 0.0,
                 minus=("clean", _at("beta")), beyond_noise=True),
            Criterion("gamma", (M, _at("gamma")), ">", 0.0,
                 minus=("clean", _at("gamma")), beyond_noise=True),
        )),
)
CLAIM = {c.name: c for c in CLAIMS}

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt,
        "<=": operator.le}


def seed_noise(summary, cell):
  """Seed-to-seed std of a cell ("clean" or "attack@ratio"): the largest
  sample std over seeds among the models that have two or more seeds."""
  stds = []
  for s in summary.values():
    if len(s["seeds"]) < 2:
      continue
    e = s["clean"] if cell == "clean" else s["sweep"].get(cell)
    if e is not None:
      stds.append(e["spread"])
  return max(stds, default=0.0)


def compare(summary, model, cell):
  """(model's mean, clean model's mean, delta, significant) or None.

  A difference is significant when it exceeds NOISE_FACTOR times the
  seed-to-seed std of that cell (``seed_noise``).
  """
  if model not in summary or "clean" not in summary:
    return None
  a, b = (summary[m]["clean"] if cell == "clean"
          else summary[m]["sweep"].get(cell) for m in (model, "clean"))
  if a is None or b is None:
    return None
  d = a["mean"] - b["mean"]
  return (a["mean"], b["mean"], d,
          abs(d) > NOISE_FACTOR * seed_noise(summary, cell))


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


def _value(summary, model, cell):
  """A cell's mean, each seed's value for visible_at_50, or None."""
  s = summary[model]
  if cell == "clean":
    return s["clean"]["mean"]
  if cell == "visible_at_50":
    return [measured for measured, _ in s["visible_at_50"]["per_seed"]]
  part, key = "sweep", cell
  if cell.startswith("sparse@"):
    part, key = "sparse", cell[len("sparse@"):]
  e = s[part].get(key)
  return None if e is None else e["mean"]


def _passes(criterion, value):
  return value is not None and _OPS[criterion.op](value, criterion.threshold)


def evaluate(claim, summary, model):
  """{criterion name: Outcome(value, passed)} of ``claim`` on ``model``.

  None when a model the claim names is not in the summary. A value is the
  quantity (minus the other cell) or None where a cell is not measured; a
  criterion with no value fails.
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
    m, cell = fill(c.quantity)
    value = _value(summary, m, cell)
    if c.minus is not None and value is not None:
      base = _value(summary, *fill(c.minus))
      value = None if base is None else value - base
    if c.every_seed:
      passed = value is not None and all(_passes(c, v) for v in value)
    else:
      passed = _passes(c, value) and (not c.beyond_noise or abs(value) > (
          NOISE_FACTOR * seed_noise(summary, cell)))
    out[c.name] = Outcome(value, passed)
  return out
