"""Clean CIFAR-10 accuracy against wall time on this machine: the fast
network's frontier (each width at the epochs that fit about 30 minutes
here) beside the ResNet-8 baseline (``experiments/fast_cpu.md``).

Each run evaluates clean accuracy only; the whole process is timed (data
loading, compilation, training, evaluation), so runs go one at a time on an
otherwise idle machine (the load average is recorded). ``--stage=eval
--evaluation=attacks`` runs the attacks of ``mdr.attacks`` on the width-0.5
model on small test subsets (minutes on 2 cores), into ``seed0/attacks/``.
"""

from experiments import specs

SHAPES = ((0.25, 8.0), (0.5, 8.0), (0.5, 10.0), (0.75, 5.5), (1.0, 3.0))
RUNS = (
    specs.Run("resnet_small", ("--config=configs/clean.py:cpu_resnet8",
                               "--config.eval.suites=('clean',)"),
              long="ResNet-8"),
    *(specs.Run(f"airbench_w{w:g}_e{e:g}", specs.airbench(w, e))
      for w, e in SHAPES),
)

specs.register(specs.Group(
    name="frontier", label="Frontier", results="fast_cpu",
    workdirs="fast_cpu",
    doc="clean accuracy vs wall time: fast-network widths and ResNet-8",
    runs=RUNS, queue=tuple((r.name, 0) for r in RUNS),
    evaluations={"attacks": specs.Evaluation(
        suites=("clean", "mask_sweep", "robustness", "patch"),
        flags=("--config.eval.tta=0",
               "--config.eval.attacks=(\"alpha\",\"alpha_exhaustive\","
               "\"fgsm\",\"pgd\",\"lavan\")",
               "--config.eval.ratios=(0.0,0.1,0.2)",
               "--config.eval.costly_images=100",
               "--config.eval.robust_images=200", "--config.eval.draws=1",
               "--config.eval.patch_images=100",
               "--config.eval.patch_steps=200",
               "--config.eval.patch_universal_steps=300"),
        out="attacks",
        doc="every attack on small subsets (run it for airbench_w0.5_e8:0)")}))
