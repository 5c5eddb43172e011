"""Attacks on image classifiers, by family, and their registry.

| family | module | attacks |
|---|---|---|
| occlusion | ``mdr.attacks.occlusion`` | α, β, γ, alpha_pixels (from ``mdr.masks``), alpha_exhaustive |
| gradient | ``mdr.attacks.gradient`` | ``fgsm``, ``pgd`` (ℓ∞ / ℓ2, CE / margin, restarts, targeted) |
| gradient | ``mdr.attacks.autopgd`` | ``apgd`` (APGD-CE / DLR), ``apgd_targeted`` (APGD-T) |
| patch | ``mdr.attacks.patch`` | LaVAN patches, per image and universal |

Public functions: :func:`pgd`, :func:`fgsm`, :func:`apgd`,
:func:`apgd_targeted`, :func:`worst_square`,
``patch.per_image``, ``patch.universal``; the registry: :data:`REGISTRY`,
:func:`get`, :func:`register`, :func:`names`, :class:`AttackSpec`.
"""

from mdr.attacks import autopgd
from mdr.attacks import gradient
from mdr.attacks import occlusion
from mdr.attacks import patch
from mdr.attacks.autopgd import apgd
from mdr.attacks.autopgd import apgd_targeted
from mdr.attacks.gradient import attack_loss
from mdr.attacks.gradient import fgsm
from mdr.attacks.gradient import fooled
from mdr.attacks.gradient import pgd
from mdr.attacks.gradient import project
from mdr.attacks.occlusion import worst_square
from mdr.attacks.registry import AttackSpec
from mdr.attacks.registry import get
from mdr.attacks.registry import MaskContext
from mdr.attacks.registry import names
from mdr.attacks.registry import register
from mdr.attacks.registry import REGISTRY
from mdr.attacks.registry import salt
from mdr.attacks.registry import unregister

__all__ = [
    "AttackSpec", "MaskContext", "REGISTRY", "apgd", "apgd_targeted",
    "attack_loss", "autopgd", "fgsm", "fooled",
    "get", "gradient", "names", "occlusion", "patch", "pgd", "project",
    "register", "salt", "unregister", "worst_square",
]
