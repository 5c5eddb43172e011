"""Models trained for PatchCleanser's certificate: the fast network (width
0.25, 8 epochs, the CPU scale's recipe) trained with masks of the
certificate's own grid (``train.grid_masks``: 1 or 2 random masks of the
36-mask grid for p = 5 per masked image), mixed (half of each batch masked)
and masked (every image), seeds 0 and 1. Training evaluates clean accuracy
only; ``--stage=eval --evaluation=certify`` measures the certificates, as
for the MDR models (``--group=mdr``).
"""

from experiments import specs
from experiments.specs import matrix

RUNS = (
    specs.Run("mixed_grid2", ("--config=configs/mixed.py:cpu",
                              "--config.train.grid_masks=2"),
              long="mixed training, two grid masks per masked image"),
    specs.Run("masked_grid1", ("--config=configs/masked.py:cpu",
                               "--config.train.grid_masks=1"),
              long="every image with one grid mask"),
)

specs.register(specs.Group(
    name="certified", label="Grid-mask training",
    results=f"{matrix.ROOT}/certified", workdirs="certified",
    doc="trained with PatchCleanser's own masks, for its certificates",
    runs=RUNS, queue=specs.seeds_queue([r.name for r in RUNS], (0, 1)),
    flags=("--config.eval.suites=('clean',)",),
    evaluations={"certify": matrix.EVALUATIONS["certify"]}))
