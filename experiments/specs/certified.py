"""Models trained for certified patch robustness. Group ``certified``:
models trained for PatchCleanser's certificate: the fast network (width
0.25, 8 epochs, the CPU scale's recipe) trained with masks of the
certificate's own grid (``train.grid_masks``: 1 or 2 random masks of the
36-mask grid for p = 5 per masked image), mixed (half of each batch masked)
and masked (every image), seeds 0 and 1. Training evaluates clean accuracy
only; ``--stage=eval --evaluation=certify`` measures the certificates, as
for the MDR models (``--group=mdr``). Group ``smoothing``: the base model of
column de-randomized smoothing (``configs/ablated.py``).
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
    flags=("--config.eval.suites=('clean',)",), section="certified_report",
    evaluations={"certify": matrix.EVALUATIONS["certify"]}))

# Column de-randomized smoothing: its base model is trained for it (every
# image ablated to one band of 4 columns, the 6-channel encoding); the
# training run's own evaluation is the smoothed classifier's certificates
# (configs/ablated.py: eval.suites = clean, smoothing).
specs.register(specs.Group(
    name="smoothing", label="De-randomized smoothing",
    results=f"{matrix.ROOT}/smoothing", workdirs="smoothing",
    doc="column de-randomized smoothing: a band-ablation-trained base model",
    runs=(specs.Run("ablated_b4", ("--config=configs/ablated.py:cpu",),
                    long="every image keeps one band of 4 columns (6-channel "
                         "encoding), width 0.25, 16 epochs"),),
    queue=(("ablated_b4", 0),),
    evaluations={"empirical": specs.Evaluation(
        suites=("smoothing",),
        flags=("--config.eval.certify_attack_images=100",
               "--config.eval.certify_attack_steps=15",
               "--config.eval.certify_attack_screen=3"),
        doc="smoothing's certificates and the empirical check: the "
            "location-searched patch (5x5) against the smoothed prediction "
            "on 100 certified and 50 uncertified images")}))
