"""The report's two overview plots: every model in one figure each.

``plot_sweeps``: accuracy against the hidden share under each attack, the
seed paper's clean ResNet beside; ``plot_sparse``: accuracy against the
visible share when γ hides up to 99 %, with the line claim (b) is read at.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

from experiments.claims import FEW_PIXELS_ACCURACY  # pylint: disable=g-import-not-at-top
from experiments.report_stats import sweep_entry  # pylint: disable=g-import-not-at-top
from experiments.seed_paper import ATTACKS  # pylint: disable=g-import-not-at-top
from experiments.seed_paper import LONG  # pylint: disable=g-import-not-at-top
from experiments.seed_paper import MATRIX_RATIOS  # pylint: disable=g-import-not-at-top
from experiments.seed_paper import SEED_TABLE  # pylint: disable=g-import-not-at-top

COLORS = {"clean": "black", "masked": "tab:green", "masked_all": "tab:purple",
          "mixed": "tab:orange", "masked_sparse": "tab:cyan"}


def plot_sweeps(path, summary, title):
  fig, axes = plt.subplots(1, len(ATTACKS), figsize=(14, 3.8), dpi=110,
                           sharey=True)
  for ax, attack in zip(axes, ATTACKS):
    ratios = (0.0,) + MATRIX_RATIOS
    if attack in SEED_TABLE:
      ax.plot([r * 100 for r in ratios],
              [SEED_TABLE[attack][r] for r in ratios], "--", color="gray",
              marker="x", ms=4, lw=1.2, label="seed paper (clean)")
    for model in summary:
      es = [(r, sweep_entry(summary, model, attack, r)) for r in ratios]
      es = [(r, e) for r, e in es if e is not None]
      ax.errorbar([r * 100 for r, _ in es], [e["mean"] for _, e in es],
                  yerr=[e["spread"] for _, e in es], marker="o", ms=3,
                  capsize=2, color=COLORS.get(model), label=model)
    ax.set_title(LONG[attack], fontsize=10)
    ax.set_xlabel("hidden pixels (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
  axes[0].set_ylabel("top-1 accuracy (%)")
  axes[0].legend(fontsize=8, loc="lower left")
  fig.suptitle(title, fontsize=11)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def plot_sparse(path, summary, title):
  fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
  for model, s in summary.items():
    pts = sorted((float(r), e) for r, e in s["sparse"].items())
    ax.errorbar([(1 - r) * 100 for r, _ in pts], [e["mean"] for _, e in pts],
                yerr=[e["spread"] for _, e in pts], marker="o", ms=3,
                capsize=2, color=COLORS.get(model), label=model)
  ax.axhline(FEW_PIXELS_ACCURACY, color="gray", lw=1, ls="--",
             label=f"{FEW_PIXELS_ACCURACY:g} %")
  ax.axhline(10, color="gray", lw=1, ls=":", label="chance (10 %)")
  ax.set_xlim(102, -2)
  ax.set_xlabel("visible pixels (%; the rest hidden by γ)")
  ax.set_ylabel("top-1 accuracy (%)")
  ax.set_ylim(0, 100)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  ax.set_title(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
