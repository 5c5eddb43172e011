"""The benchmarks' settings as data: what each benchmark times and compares.

``experiments.bench_train`` times the training variants of ``TRAIN_VARIANTS``
and ``experiments.bench_masks`` checks and times each mask of ``mdr.masks``
against the NumPy baseline that ``NUMPY_MASKS`` names for it.
"""

# bench_train: the training variants, by the name ``--variants`` gives, as
# settings of the train step (``config.train.<key>``, or one of the special
# keys ``whiten_bias_frozen``, ``random_mask``, ``adv_steps``).
TRAIN_VARIANTS = {
    "clean": dict(mode="clean"),
    # airbench after train.whiten_bias_epochs: the step without the
    # whitening bias's gradient (mdr.train uses it from then on).
    "clean frozen-bias": dict(mode="clean",
                              whiten_bias_frozen=True),
    "mixed beta+gamma": dict(mode="mixed", mask_types=["beta", "gamma"]),
    "mixed gamma": dict(mode="mixed", mask_types=["gamma"]),
    "mixed alpha+beta+gamma": dict(mode="mixed",
                                   mask_types=["alpha", "beta", "gamma"]),
    # Random Mask CNN: clean training with fixed masks on the shallow stages.
    "random mask 0.5": dict(mode="clean", random_mask=0.5),
    # Adversarial training objectives (mdr.objectives), ε = 8/255.
    "fgsm_rs": dict(mode="fgsm_rs"),
    "pgd_at k=10": dict(mode="pgd_at", adv_steps=10),
    "m2at PGD-10 square mixup": dict(mode="m2at", adv_steps=10),
}

# bench_masks: each mask of ``mdr.masks`` and its NumPy baseline, one of
#   random_pixels:  the k pixels of smallest uniform random value;
#   salient_pixels: the k pixels of largest saliency;
#   random_square:  a square at a uniform random position;
#   salient_square: the square of largest summed saliency (a summed-area
#                   table and argmax).
NUMPY_MASKS = {
    "gamma": "random_pixels",
    "alpha_pixels": "salient_pixels",
    "beta": "random_square",
    "alpha": "salient_square",
}
