"""Experiments as data: one module per experiment group, plus data modules.

A group module (``mdr.py``, ``random_mask.py``, ...) builds one ``Group`` and
registers it; ``python -m experiments.run --group=<name>`` trains, evaluates,
transfers and reports it, and the reports read labels, columns and roles
from here. Data modules (``seed_paper.py``: the seed paper's table and
claims; ``benchmarks.py``: the benchmarks' settings) hold the names of
attacks and settings that experiments compare, so that nothing else under
``experiments/`` spells one.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional


@dataclasses.dataclass(frozen=True)
class Run:
  """One trained model of a group (a recipe; its seeds are separate runs).

  Attributes:
    name: the directory name: ``results/<group.results>/<name>/seed<k>/``
      and ``workdirs/<group.workdirs>/<name>_seed<k>``.
    flags: the ``mdr.main`` flags that make it (its config and overrides).
    label: its name in the tables (default: ``name``).
    long: its name in prose and in the group's own tables (default: label).
    role: ``"standard"`` for the group's network trained without masks or
      attacks (the sources of its transfer matrix); "" otherwise.
    color: its colour in the group's plots.
    tag: its key in the group's own report (``summary.json``; default name).
  """
  name: str
  flags: tuple[str, ...]
  label: str = ""
  long: str = ""
  role: str = ""
  color: Optional[str] = None
  tag: str = ""

  @property
  def key(self):
    return self.tag or self.name

  @property
  def display(self):
    return self.label or self.name

  @property
  def long_name(self):
    return self.long or self.display


@dataclasses.dataclass(frozen=True)
class Column:
  """A column of the model × attack matrix: an evaluator (of
  ``mdr.evaluators``, whose ``table`` reads its files) with parameters."""
  evaluator: str
  params: tuple[tuple[str, object], ...] = ()

  @classmethod
  def of(cls, evaluator, **params):
    return cls(evaluator, tuple(params.items()))

  @property
  def kwargs(self):
    return dict(self.params)


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """A later evaluation of a group's trained runs (``--stage=eval``).

  Attributes:
    suites: the evaluators it runs (``config.eval.suites``).
    flags: their settings (``--config.eval.*`` flags).
    doc: one line for ``--help``.
    skip: ``skip(seed_dir)`` -> the suites already measured by the run's
      own evaluation, left out here (None: none).
    out: a fixed directory under the seed's results, or None: ``extra_eval/``
      (``extra_eval_<suites>/`` when that holds a finished one).
  """
  suites: tuple[str, ...]
  flags: tuple[str, ...] = ()
  doc: str = ""
  skip: Optional[Callable[[str], tuple]] = None
  out: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Transfer:
  """The group's black-box transfer matrix (``--stage=transfer``).

  Attributes:
    settings: ``mdr.transfer`` settings, the first the matrix's column.
    images: test images (a fixed subset).
    out: its directory under the group's results.
    sources: ``None``: the group's finished standard runs; else these
      ``(group, run, seed)`` exactly, in this order.
    targets: ``None``: every finished run of the group; else these
      ``(group, run, seed)`` (those trained).
  """
  settings: tuple[str, ...]
  images: int = 5000
  out: str = "transfer"
  sources: Optional[tuple[tuple[str, str, int], ...]] = None
  targets: Optional[tuple[tuple[str, str, int], ...]] = None


@dataclasses.dataclass(frozen=True)
class Group:
  """One experiment group: everything needed to train, evaluate and report it.

  Attributes:
    name: what ``--group`` names.
    label: the prefix of its rows in the matrix.
    doc: one line for ``--help``.
    results: its directory under ``experiments/results/``.
    workdirs: its directory under ``workdirs/`` (checkpoints).
    runs: its models, in the tables' order.
    queue: the default ``(run, seed)`` training order.
    flags: flags given to every training command of the group (training
      and evaluation settings shared by its runs).
    evaluations: ``{name: Evaluation}``, the later evaluations.
    transfer: its transfer matrix, or None.
    columns: its columns of the model × attack matrix (the matrix shows the
      union of every group's, in registration order); empty: no matrix rows.
    section: a module under ``experiments/`` whose ``section(results_dir,
      rel)`` writes the group's own part of ``experiments/README.md`` (before
      the matrix), or "".
  """
  name: str
  label: str
  doc: str
  results: str
  workdirs: str
  runs: tuple[Run, ...]
  queue: tuple[tuple[str, int], ...]
  flags: tuple[str, ...] = ()
  evaluations: dict = dataclasses.field(default_factory=dict)
  transfer: Optional[Transfer] = None
  columns: tuple[Column, ...] = ()
  section: str = ""

  def run(self, name):
    """The ``Run`` called ``name``; a clear error naming the group's runs."""
    for r in self.runs:
      if r.name == name:
        return r
    raise KeyError(f"group {self.name!r} has no run {name!r}: its runs are "
                   f"{[r.name for r in self.runs]}")

  def find(self, name):
    """The ``Run`` called ``name``, or None."""
    return next((r for r in self.runs if r.name == name), None)

  def standard(self):
    return [r.name for r in self.runs if r.role == "standard"]


REGISTRY: dict[str, Group] = {}


def register(group: Group) -> Group:
  if group.name in REGISTRY:
    raise ValueError(f"experiment group {group.name!r} is registered twice")
  names = [r.name for r in group.runs]
  if len(set(names)) < len(names):
    raise ValueError(f"group {group.name!r} names a run twice: {names}")
  for run, seed in group.queue:
    group.run(run)
    if not isinstance(seed, int) or seed < 0:
      raise ValueError(f"group {group.name!r}: queue seed {seed!r} must be "
                       "an integer >= 0")
  REGISTRY[group.name] = group
  return group


def unregister(name):
  """Removes a group (tests register throwaway groups)."""
  REGISTRY.pop(name, None)


def get(name) -> Group:
  if name not in REGISTRY:
    raise KeyError(f"no experiment group {name!r}: the groups are "
                   f"{sorted(REGISTRY)}")
  return REGISTRY[name]


def names():
  return list(REGISTRY)


def seeds_queue(runs, seeds):
  """``(run, seed)`` seed by seed: every run of seed 0, then of seed 1..."""
  return tuple((r, s) for s in seeds for r in runs)


def airbench(width, epochs, config="configs/fast.py:cpu", *extra):
  """The flags of the fast network (airbench) at this width and length, with
  the recipe's warm-up (23 % of the epochs), from ``config``."""
  return (f"--config={config}", f"--config.model.width={width}",
          f"--config.train.epochs={epochs}",
          f"--config.optim.warmup_epochs={0.23 * epochs:.4f}", *extra)


# The groups, in the order of the matrix's rows and of --help.
# pylint: disable=g-import-not-at-top,wrong-import-position
from experiments.specs import mdr as _mdr  # noqa: E402,F401
from experiments.specs import random_mask as _random_mask  # noqa: E402,F401
from experiments.specs import adversarial as _adversarial  # noqa: E402,F401
from experiments.specs import frontier as _frontier  # noqa: E402,F401
from experiments.specs import certified as _certified  # noqa: E402,F401
