"""The seed's models (MDR): clean, masked and mixed training, and two more
masked recipes, at each scale.

``mdr`` is the CPU scale (the ``:cpu`` configs: the fast network at width
0.25, 8 epochs) whose rows open the model × attack matrix; ``mdr_resnet8``
the first CPU scale (ResNet-8: its committed runs were made when ``:cpu``
meant ResNet-8, so their ``run.json`` commands say ``:cpu``); ``mdr_gpu``
the full-width fast network at airbench94's 9.9 epochs (bf16; minutes on
one GPU); ``mdr_full`` ResNet-18 at 200 epochs. Each run trains, then
evaluates with its config's suites (the mask sweep and the sparse-pixel
curve); the clean model is the standard network, the source of the group's
transfer matrix.
"""

from experiments import specs
from experiments.specs import matrix

MODELS = (
    ("clean", "configs/clean.py", (), "no masks in training"),
    ("masked", "configs/masked.py", (), "every training image masked with γ"),
    ("masked_all", "configs/masked.py",
     ('--config.train.mask_types=("alpha","beta","gamma")',),
     "every image masked with α, β or γ"),
    ("mixed", "configs/mixed.py", (), "half of each batch masked with α/β/γ"),
    # Claim (b) is about classifying from a few visible pixels; the configs
    # above train on at most 20 % hidden, this one on up to 99 % hidden.
    ("masked_sparse", "configs/masked.py", ("--config.train.ratio_max=0.99",),
     "every image masked with γ hiding 0-99 %"),
)


def runs(scale):
  return tuple(
      specs.Run(name, (f"--config={config}{scale}", *extra), long=doc,
                role="standard" if name == "clean" else "")
      for name, config, extra, doc in MODELS)


# Order matters when time is short: the three models the seed's claims rest
# on (clean, masked, mixed) seed by seed, then the two other masked models.
CPU_QUEUE = (*specs.seeds_queue(("clean", "masked", "mixed"), (0, 1, 2)),
             ("masked_all", 0), ("masked_sparse", 0), ("masked_all", 1),
             ("masked_sparse", 1), ("masked_all", 2), ("masked_sparse", 2))
GPU_QUEUE = specs.seeds_queue(("clean", "masked", "mixed"), (0, 1, 2))

specs.register(specs.Group(
    name="mdr", label="MDR", results=matrix.ROOT, workdirs="cifar10_cpu",
    doc="the seed's models at CPU scale (fast network, width 0.25, 8 epochs)",
    runs=runs(":cpu"), queue=CPU_QUEUE, evaluations=matrix.EVALUATIONS,
    transfer=specs.Transfer(settings=(matrix.TRANSFER,)),
    columns=matrix.COLUMNS))
specs.register(specs.Group(
    name="mdr_resnet8", label="MDR (ResNet-8)",
    results="cifar10_cpu_resnet8", workdirs="cifar10_cpu_resnet8",
    doc="the seed's models at the first CPU scale (ResNet-8)",
    runs=runs(":cpu_resnet8"),
    queue=(("clean", 0), ("mixed", 0), ("masked", 0), ("masked_all", 0),
           ("clean", 1), ("mixed", 1), ("masked_sparse", 0), ("clean", 2)),
    transfer=specs.Transfer(settings=(matrix.TRANSFER,))))
for name, label, scale, doc in (
    ("mdr_gpu", "MDR (GPU)", ":gpu",
     "the seed's models, full-width fast network, 9.9 epochs, bf16"),
    ("mdr_full", "MDR (ResNet-18)", "",
     "the seed's models, ResNet-18, 200 epochs, bf16")):
  results = "cifar10_" + name.partition("_")[2]
  specs.register(specs.Group(
      name=name, label=label, results=results, workdirs=results, doc=doc,
      runs=runs(scale), queue=GPU_QUEUE,
      transfer=specs.Transfer(settings=(matrix.TRANSFER,))))
