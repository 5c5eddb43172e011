"""The attack registry: every attack by name, with what evaluation and the
reports need to know about it.

An attack module registers its attacks with :func:`register`; evaluation
(``mdr.evaluate``) and the reports (``mdr.report``, ``experiments/``) read
only this metadata, so a new attack is one module and one registration,
with its name written nowhere else. Display order is registration order.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

FAMILIES = ("occlusion", "gradient", "patch")


@dataclasses.dataclass(frozen=True)
class AttackSpec:
  """What one attack declares.

  Attributes:
    name: registry key (``config.eval.attacks`` entries).
    display: how tables and plot legends name it, e.g. "α (salient square)".
    symbol: a short symbol, e.g. "α".
    family: ``occlusion`` (hides pixels: swept over the share hidden),
      ``gradient`` (changes pixel values within an ε-ball) or ``patch``
      (pastes a visible patch).
    random: whether results vary with the random key (evaluation averages
      ``eval.draws`` draws and reports their spread) or not (one draw).
    budget: what the attack's size is measured in, e.g. "share of pixels
      hidden", "ε (/255)", "patch side (share of the image)".
    pixels: ``(budget, H, W) -> int``, how many pixels it touches.
    color: plot colour.
    masks: occlusion only: ``(ctx, keys, ratio) -> bool [B, H, W]``, see
      :class:`MaskContext`.
    needs_saliency: occlusion: the masks read the model's input gradient.
    costly: evaluated on a fixed subset of ``eval.costly_images`` test
      images instead of the whole split (e.g. one forward pass per position).
    perturb: gradient only: ``(logits_fn, images, labels, key, eps, steps,
      loss) -> adversarial images``; ``steps`` and ``loss`` static.
    iterative: gradient: whether ``steps`` matters (PGD) or not (FGSM).
  """
  name: str
  display: str
  symbol: str
  family: str
  random: bool
  budget: str
  pixels: Callable[[Any, int, int], int]
  color: Optional[str] = None
  masks: Optional[Callable[..., Any]] = None
  needs_saliency: bool = False
  costly: bool = False
  perturb: Optional[Callable[..., Any]] = None
  iterative: bool = False


@dataclasses.dataclass
class MaskContext:
  """What an occlusion attack may look at to place its mask.

  ``logits_fn`` is the evaluated model in inference mode, ``images`` [B, H,
  W, C] in [0, 1], ``labels`` [B], ``saliency`` [B, H, W] (or None when no
  attack needs it), ``fill(images, masks)`` hides pixels as the evaluation
  does.
  """
  logits_fn: Callable[[Any], Any]
  images: Any
  labels: Any
  saliency: Any
  fill: Callable[[Any, Any], Any]


REGISTRY: dict[str, AttackSpec] = {}


def register(spec: AttackSpec) -> AttackSpec:
  """Adds ``spec``; a name registered twice is an error."""
  if spec.family not in FAMILIES:
    raise ValueError(f"attack {spec.name!r}: family must be one of "
                     f"{FAMILIES}, got {spec.family!r}")
  if spec.name in REGISTRY and REGISTRY[spec.name] is not spec:
    raise ValueError(f"attack {spec.name!r} is already registered")
  if spec.family == "occlusion" and spec.masks is None:
    raise ValueError(f"occlusion attack {spec.name!r} needs a masks function")
  if spec.family == "gradient" and spec.perturb is None:
    raise ValueError(f"gradient attack {spec.name!r} needs a perturb function")
  REGISTRY[spec.name] = spec
  return spec


def unregister(name: str) -> None:
  """Removes an attack (tests register throwaway attacks)."""
  REGISTRY.pop(name, None)


def get(name: str) -> AttackSpec:
  """The attack called ``name``; ``ValueError`` listing the registered ones."""
  if name not in REGISTRY:
    raise ValueError(f"unknown attack {name!r}; registered: "
                     f"{list(REGISTRY)}")
  return REGISTRY[name]


def names(family: Optional[str] = None) -> list[str]:
  """Registered names (of one family), in registration order."""
  return [n for n, s in REGISTRY.items() if family in (None, s.family)]


def salt(name: str) -> int:
  """A stable 31-bit integer from an attack's name: its random streams are
  salted by name, so reordering ``eval.attacks`` changes no result."""
  import zlib  # pylint: disable=g-import-not-at-top
  return zlib.crc32(name.encode()) & 0x7FFFFFFF
