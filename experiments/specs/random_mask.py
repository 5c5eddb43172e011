"""Random Mask CNN at CPU scale: the standard fast network (width 0.25, 8
epochs) and the same network with fixed random masks (drop 0.5, 0.7) on its
shallow stages, seeds 0 and 1.

Each is evaluated without TTA on clean, the mask sweep (α/β/γ/α-pixels at 10
and 20 %, α* at 20 % on 250 images), the sparse-pixel curve (γ up to 99 %
hidden) and white-box FGSM/PGD-20 on 500 images. The transfer matrix
(``--stage=transfer``): sources the two standard seeds and the ResNet-8 of
the frontier group (another architecture), targets every model, every
``mdr.transfer`` setting, 5,000 test images. The matrix's LaVAN cells:
``--stage=eval --evaluation=matrix``.
"""

from experiments import specs
from experiments.specs import matrix

E8 = "airbench_w0.25_e8"
RUNS = (
    specs.Run(E8, specs.airbench(0.25, 8.0), label="standard (no masks)",
              role="standard", color="black", tag="standard"),
    *(specs.Run(f"{E8}_rm{drop}", specs.airbench(
        0.25, 8.0, "configs/random_mask.py:cpu",
        f"--config.model.random_mask.drop={drop}"),
                label=f"drop {drop}", long=f"random mask, drop {drop}",
                color=color, tag=f"rm{drop}")
      for drop, color in ((0.5, "tab:orange"), (0.7, "tab:red"))),
)
FLAGS = matrix.own_eval_flags("(0.0,0.1,0.2)", "(0,2,8,16)")

specs.register(specs.Group(
    name="random_mask", label="Random mask",
    results=f"{matrix.ROOT}/random_mask", workdirs="random_mask",
    doc="Random Mask CNN: fixed random masks on the shallow stages",
    runs=RUNS, queue=specs.seeds_queue([r.name for r in RUNS], (0, 1)),
    flags=FLAGS, evaluations=matrix.EVALUATIONS,
    transfer=specs.Transfer(
        settings=(), images=5000,
        sources=(("random_mask", E8, 0), ("random_mask", E8, 1),
                 ("frontier", "resnet_small", 0)),
        targets=(("random_mask", E8, 0), ("random_mask", E8, 1),
                 ("frontier", "resnet_small", 0),
                 ("random_mask", f"{E8}_rm0.5", 0),
                 ("random_mask", f"{E8}_rm0.5", 1),
                 ("random_mask", f"{E8}_rm0.7", 0),
                 ("random_mask", f"{E8}_rm0.7", 1))),
    columns=matrix.COLUMNS, section="random_mask_report"))

# The cells of the group's own report (random_mask_report, summary.json):
# the mask attacks at 10 and 20 % hidden, the one-step and multi-step
# white-box attacks at ε 2, 8 and 16/255 (and the multi-step one with the
# margin loss at 8/255).
MASKS = ("alpha", "beta", "gamma")
ONE_STEP, MULTI_STEP = "fgsm", "pgd"
