"""The seed paper as data: its table, its claims and the report's columns.

The seed paper's only table is a clean-trained ResNet on CIFAR-10 under the
three mask attacks at 0-20 % hidden; its claims (the central observation
and (a)-(c)) have no numbers. Here are that table, the attacks and ratios
the reproduction lays it on, and each claim as criteria with named
thresholds. ``experiments.claims`` judges the claims on a report's summary
(``Criterion`` and ``Claim`` are the schema it reads) and
``experiments.seed_paper`` adds the attacks' symbols and names from the
attack registry; the reports import the attacks they single out from here.
"""

from __future__ import annotations

import dataclasses

# The attacks the reproduction singles out (names of ``mdr.attacks``).
SALIENT_SQUARE = "alpha"           # α: the square of largest saliency
WORST_SQUARE = "alpha_exhaustive"  # α*: the worst-case square α approximates
RANDOM_SQUARE = "beta"             # β: a square at random
RANDOM_PIXELS = "gamma"            # γ: scattered pixels at random
SALIENT_PIXELS = "alpha_pixels"    # α-pixels: the most salient pixels

# The seed paper's only table: CIFAR-10, ResNet, clean training (accuracy, %).
SEED_CLEAN = 93.89  # its clean accuracy (nothing hidden)
SEED_TABLE = {
    SALIENT_SQUARE: {0.0: SEED_CLEAN, 0.02: 89.98, 0.05: 86.90, 0.10: 81.48,
                     0.15: 74.12, 0.20: 67.11},
    RANDOM_SQUARE: {0.0: SEED_CLEAN, 0.02: 90.20, 0.05: 87.73, 0.10: 82.00,
                    0.15: 75.49, 0.20: 68.36},
    RANDOM_PIXELS: {0.0: SEED_CLEAN, 0.02: 65.14, 0.05: 45.96, 0.10: 27.64,
                    0.15: 16.00, 0.20: 14.07},
}
SEED_ATTACKS = tuple(SEED_TABLE)  # the three attacks the seed reports
MATRIX_RATIOS = (0.02, 0.05, 0.10, 0.15, 0.20)  # those measured are shown
# The columns of the reproduction: the attacks the seed's claims are about,
# plus the worst-case square (what α approximates) and α-pixels.
ATTACKS = (SALIENT_SQUARE, WORST_SQUARE, RANDOM_SQUARE, RANDOM_PIXELS,
           SALIENT_PIXELS)

# Named thresholds. Accuracies and their differences are in points (%).
RATIO = 0.2                 # the hidden share the attacks are compared at
CENTRAL_GAP = 20.0          # central: β minus γ on `clean`, at least this
FEW_PIXELS_ACCURACY = 50.0  # (b): "more than 50 %", read as accuracy ...
FEW_PIXELS_VISIBLE = 0.10   # ... with at most this share of pixels visible
HALF_HIDDEN = 0.5           # (b), other reading: more than half hidden
MIXED_CLEAN_DROP = 3.0      # (c): clean accuracy at most this below `clean`
MIXED_GAMMA_GAIN = 30.0     # (c): γ at RATIO above `clean` by more than this

# The central observation: the first attack's accuracy minus the second's.
CENTRAL_ATTACKS = (RANDOM_SQUARE, RANDOM_PIXELS)
# The cells the seed's central observation and claim (c) rest on (those of
# the rerun check's headline table): clean, and each seed attack at RATIO.
HEADLINE = (f"sweep {SALIENT_SQUARE}@0",) + tuple(
    f"sweep {a}@{RATIO:g}" for a in SEED_ATTACKS)


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


M = "{model}"  # the model under test


def _at(attack):
  """The cell of ``attack`` at RATIO: "<attack>@0.2"."""
  return f"{attack}@{RATIO:g}"


def _resists(attack):
  """Criterion ``attack``: the model above `clean` under it at RATIO."""
  return Criterion(attack, (M, _at(attack)), ">", 0.0,
                   minus=("clean", _at(attack)))


CLAIMS = (
    Claim(
        "central",
        "γ at 20 % is far below β at 20 % on a clean-trained model",
        models=("clean",),
        criteria=(
            Criterion("gap", (M, _at(CENTRAL_ATTACKS[0])), ">=", CENTRAL_GAP,
                      minus=(M, _at(CENTRAL_ATTACKS[1]))),
        )),
    Claim(
        "a",
        "A model trained on masked images loses some clean accuracy but "
        "resists mask attacks",
        models=("masked", "masked_all", "masked_sparse"),
        criteria=(
            Criterion("clean", (M, "clean"), "<", 0.0,
                      minus=("clean", "clean")),
        ) + tuple(_resists(a) for a in SEED_ATTACKS)),
    Claim(
        "b",
        "A mask-trained model classifies from only a few visible pixels, "
        "\"more than 50 %\"",
        models=None, skip=("clean",),
        criteria=(
            Criterion("visible", (M, "visible_at_50"), "<=",
                      FEW_PIXELS_VISIBLE, every_seed=True),
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
            Criterion("gamma_rise", (M, _at(RANDOM_PIXELS)), ">",
                      MIXED_GAMMA_GAIN, minus=("clean", _at(RANDOM_PIXELS))),
        ) + tuple(_resists(a) for a in SEED_ATTACKS)),
    # (a) and (c) once more with α* (every position of the square, the
    # worst per image) in place of α: α is a saliency heuristic, α* the
    # attack it approximates.
    Claim(
        "a_worst",
        "(a) with the worst-case square α* in place of α",
        models=("masked", "masked_all", "masked_sparse"),
        criteria=(_resists(WORST_SQUARE),)),
    Claim(
        "c_worst",
        "(c) with the worst-case square α* in place of α",
        models=("mixed",),
        criteria=(_resists(WORST_SQUARE),)),
)
