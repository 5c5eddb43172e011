"""Adversarial training at CPU scale: the fast network (width 0.25) for 3
epochs (144 steps of 1,024: the same budget for every objective) with clean
training, FGSM-RS (Wong et al.: ε 8/255, step 10/255 from a uniform start),
PGD-AT and two M2AT settings (square mask + mixup; Bernoulli-pixel mask +
cutmix), seeds 0 and 1.

PGD-AT and M2AT's perturbation use PGD-2 with step 4/255 = ε/2 from a
uniform start (2 steps instead of the full scale's 10: the CPU budget; ε/2
rather than 2.5ε/k because one signed step larger than ε, FGSM-RS's 10/255,
overfits catastrophically under this recipe); ``train.adv.step`` does not
reach clean or FGSM-RS training. Evaluation without TTA: clean; α/β/γ/
α-pixels at 20 % hidden (2 draws), α* at 20 % on 250 images; the sparse-pixel
curve; FGSM and PGD-20 at ε 2 and 8/255, PGD-20 with the margin loss, PGD-40
and ε = 0.5 (the sanity checks) on 500 test images.
"""

from experiments import specs
from experiments.specs import matrix

E3 = "airbench_w0.25_e3"
OBJECTIVES = (   # (suffix, label, colour, config and flags)
    ("", "clean training", "black", ("configs/fast.py:cpu",)),
    ("fgsm_rs", "FGSM-RS (fast AT)", "tab:blue", ("configs/fgsm_rs.py:cpu",)),
    ("pgd_at", "PGD-AT", "tab:green", ("configs/pgd_at.py:cpu",)),
    ("m2at_square_mixup", "M2AT: square mask + mixup", "tab:orange",
     ("configs/m2at.py:cpu", "--config.train.m2at.mask=square",
      "--config.train.m2at.mix=mixup")),
    ("m2at_pixels_cutmix", "M2AT: pixel mask + cutmix", "tab:red",
     ("configs/m2at.py:cpu", "--config.train.m2at.mask=pixels",
      "--config.train.m2at.mix=cutmix")),
)
RUNS = tuple(
    specs.Run(f"{E3}_{suffix}" if suffix else E3,
              specs.airbench(0.25, 3.0, config, *extra), label=label,
              color=color, tag=suffix or "clean",
              role="" if suffix else "standard")
    for suffix, label, color, (config, *extra) in OBJECTIVES)
REFERENCE = f"{E3}_pgd_at"   # M2AT's claim is made against PGD-AT
FLAGS = (
    "--config.train.adv.steps=2", "--config.train.adv.step=4.0",
    "--config.checkpoint_every_steps=48",
    *matrix.own_eval_flags("(0.0,0.2)", "(2,8)"))

specs.register(specs.Group(
    name="adversarial", label="Adversarial",
    results=f"{matrix.ROOT}/adversarial", workdirs="adversarial",
    doc="adversarial training: clean, FGSM-RS, PGD-AT, two M2AT settings",
    runs=RUNS, queue=specs.seeds_queue([r.name for r in RUNS], (0, 1)),
    flags=FLAGS, evaluations=matrix.EVALUATIONS,
    transfer=specs.Transfer(settings=(matrix.TRANSFER,)),
    columns=matrix.COLUMNS, section="adversarial_report"))

# The cells of the group's own report (adversarial_report, summary.json):
# the mask attacks at 20 % hidden, the one-step and multi-step white-box
# attacks at ε 2 and 8/255 (and the multi-step one with the margin loss).
MASKS = ("alpha", "beta", "gamma")
ONE_STEP, MULTI_STEP = "fgsm", "pgd"
