"""The evaluator registry: what a run measures after training.

An evaluator is one module of ``mdr/evaluators/`` holding an ``Evaluator``
entry: its name (what ``config.eval.suites`` lists), the ``config.eval``
fields it reads, a check of those fields, and ``run(ctx)``, which computes,
logs and writes its files under ``ctx.out``. ``evaluate.evaluate`` runs the
evaluators named in ``config.eval.suites`` in the order written, with one
shared ``Context``; adding one is a new module and one line in
``mdr/evaluators/__init__.py``.

Random streams: an evaluator draws from ``ctx.key(entry)``: the root
evaluation key folded with the entry's ``stream`` constant where it has one
(the streams the suites drew before the registry: results stay identical),
else with a salt of its name (``mdr.attacks.salt``), never a list position.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Optional

import jax

from mdr.batches import count_over_batches  # pylint: disable=unused-import
from mdr.batches import eval_batch  # pylint: disable=unused-import
from mdr.batches import padded_batch  # pylint: disable=unused-import

ROOT = "root"   # ``stream`` of the evaluators that salt each attack by name


@dataclasses.dataclass(frozen=True)
class Evaluator:
  """One registered evaluator.

  Attributes:
    name: what ``config.eval.suites`` names.
    run: ``run(ctx) -> result``; computes and, on process 0, writes files.
    doc: one line for listings.
    fields: the ``config.eval`` fields it reads (dotted below ``eval``).
    check: ``check(config)`` raises ``ConfigError`` for a bad field of its own.
    stream: ``None`` (salt by name), ``ROOT`` (the root key itself: the
      evaluator salts its attacks by name) or an int (a fixed stream).
    files: the stems of the files it writes under ``eval/``.
    table: how its result files become columns of a results table (the
      model × attack matrix of ``experiments/``), or None.
  """
  name: str
  run: Callable[["Context"], Any]
  doc: str
  fields: tuple[str, ...] = ()
  check: Optional[Callable[[Any], None]] = None
  stream: Any = None
  files: tuple[str, ...] = ()
  table: Optional["Table"] = None


@dataclasses.dataclass(frozen=True)
class Reading:
  """One trained run's seed as a report reads it.

  Attributes:
    file: ``file(stem)`` -> the parsed ``<stem>.json`` of the seed (a later
      evaluation's file over an earlier one), or None when absent.
    config: the run's ``config.json`` as a dict ({} when absent).
    run: the run's name; seed: its seed.
    shared: what belongs to the run's group rather than to one run:
      ``"group"`` and ``"group_label"`` (its name and label), ``"transfer"``
      (its transfer matrix: records, standard sources, images, settings; or
      None) and ``"transfer_missing"`` (why there is none).
  """
  file: Callable[[str], Any]
  config: dict
  run: str
  seed: int
  shared: dict


@dataclasses.dataclass(frozen=True)
class Table:
  """How an evaluator's result files become table columns.

  A column is this evaluator with ``params`` (a dict, written in an
  experiment spec, e.g. ``{"attack": "alpha", "ratio": 0.2}``).

  Attributes:
    key: ``key(params)`` -> the column's key (in ``matrix.json``).
    header: ``header(params)`` -> its heading.
    cell: ``cell(reading, params)`` -> ``(value, why, mark)``: the value (or
      None and why it is not measured, read off the files) and its marks (""
      or footnote signs, one character each).
    describe: ``describe(params_list, readings, names)`` -> one clause saying
      what the evaluator's columns measure (sizes read off the files), or "";
      ``names(readings)`` words the table rows those readings belong to.
    footnote: ``footnote(params, who, mark)`` -> the sentence explaining the
      mark (one symbol of those ``cell`` returns) of the rows ``who`` (a text
      naming them), or None.
    count: ``count(reading, params)`` -> ``(k, n)``: the cell is ``k`` of
      ``n`` images (its value ``100 k / n``), when it is measured on a subset
      of the test split (the matrix then shows its 95 % Wilson interval);
      None for a cell on the whole split or not a proportion.
  """
  key: Callable[[dict], str]
  header: Callable[[dict], str]
  cell: Callable[[Reading, dict], tuple]
  describe: Optional[Callable[[list, list, Callable], str]] = None
  footnote: Optional[Callable[[dict, str, str], str]] = None
  count: Optional[Callable[["Reading", dict], Optional[tuple]]] = None


def subset_count(reading, n, percent):
  """``(k, n)`` of a cell of ``percent`` % on ``n`` images when ``n`` is
  below the test split the run's clean accuracy was measured on (a subset),
  else None. ``k`` is rounded: a mean over random draws is not an integer."""
  clean = reading.file("clean") or {}
  if not n or not clean.get("n") or n >= clean["n"]:
    return None
  return int(round(percent * n / 100)), int(n)


REGISTRY: dict[str, Evaluator] = {}


def register(entry: Evaluator) -> Evaluator:
  if entry.name in REGISTRY:
    raise ValueError(f"evaluator {entry.name!r} is registered twice")
  REGISTRY[entry.name] = entry
  return entry


def unregister(name: str) -> None:
  """Removes an entry (tests registering a throwaway evaluator)."""
  REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
  return tuple(REGISTRY)


def get(name: str) -> Evaluator:
  if name not in REGISTRY:
    raise KeyError(f"unknown evaluator {name!r}; registered: {names()}")
  return REGISTRY[name]


def check_config(config) -> None:
  """``config.eval.suites`` names registered evaluators, and every
  registered evaluator's own fields are valid (a bad value is refused even
  when its evaluator is not selected: a later ``--config.eval.suites`` may
  select it)."""
  from mdr import config as config_lib  # pylint: disable=g-import-not-at-top
  suites = config.eval.suites
  if isinstance(suites, str) or any(s not in REGISTRY for s in suites):
    raise config_lib.ConfigError(
        f"config.eval.suites = {suites!r} is not allowed: a list of "
        f"registered evaluators {names()} (may be empty)")
  if len(set(suites)) < len(suites):
    raise config_lib.ConfigError(
        f"config.eval.suites = {suites!r} is not allowed: each evaluator "
        f"at most once")
  for entry in REGISTRY.values():
    if entry.check:
      entry.check(config)


@dataclasses.dataclass
class Context:
  """What every evaluator gets: the trained model and the test split.

  ``images``/``labels``: the whole test split (uint8 / int32), replicated on
  the mesh; ``batch``: the evaluation batch (a multiple of the device count);
  ``others``: ``{workdir: (model, variables)}`` of other trained runs;
  ``write``: whether this process writes files (process 0).
  """
  config: Any
  workdir: str
  out: str
  model: Any
  variables: Any
  dataset: Any
  mesh: Any
  images: jax.Array
  labels: jax.Array
  batch: int
  mean: jax.Array
  title: str
  eval_key: jax.Array
  others: dict
  write: bool

  @property
  def n(self) -> int:
    return int(self.labels.shape[0])

  def key(self, entry: Evaluator) -> jax.Array:
    """The evaluator's random stream (see the module docstring)."""
    from mdr import attacks  # pylint: disable=g-import-not-at-top
    if entry.stream == ROOT:
      return self.eval_key
    salt = attacks.salt(entry.name) if entry.stream is None else entry.stream
    return jax.random.fold_in(self.eval_key, salt)

  def logits_fn(self, tta: Optional[int] = None, model=None, variables=None):
    """``x -> logits`` of the evaluated model (or another), in inference mode,
    wrapped with test-time augmentation (default ``config.eval.tta``)."""
    from mdr import tta as tta_lib  # pylint: disable=g-import-not-at-top
    model = self.model if model is None else model
    variables = self.variables if variables is None else variables
    tta = self.config.eval.tta if tta is None else tta
    return tta_lib.wrap(lambda x: model.apply(variables, x, train=False), tta)


def fail(field: str, value, allowed: str):
  """Raises the one ``ConfigError`` of a bad field: name, value, allowed."""
  from mdr import config as config_lib  # pylint: disable=g-import-not-at-top
  raise config_lib.ConfigError(
      f"config.{field} = {value!r} is not allowed: {allowed}")


def check_ratios(field: str, values, empty_ok: bool = False):
  """A list of numbers in [0, 1] (non-empty unless ``empty_ok``)."""
  if isinstance(values, (str, int, float)) or (not values and not empty_ok):
    fail(field, values, "a list of numbers in [0, 1]" if empty_ok else
         "a non-empty list of numbers in [0, 1]")
  for v in values:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or \
        math.isnan(v) or not 0 <= v <= 1:
      fail(field, v, "expected a number in [0, 1]")


def check_int(field: str, value, minimum: int, meaning: str):
  """An integer (not a bool) >= ``minimum``; ``meaning`` says what is
  allowed, e.g. "a positive integer"."""
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    fail(field, value, meaning)


def check_sides(field: str, values):
  """A non-empty list of patch sides (positive integers)."""
  if isinstance(values, str) or not values or any(
      isinstance(p, bool) or not isinstance(p, int) or p < 1
      for p in values):
    fail(field, values, "a non-empty list of patch sides (positive integers)")


def write_result(ctx: "Context", stem: str, result: dict, text: str) -> None:
  """``<stem>.json`` (the numbers) and ``<stem>.md`` (``text``) under
  ``ctx.out``, on the writing process only."""
  import os  # pylint: disable=g-import-not-at-top
  from mdr import report  # pylint: disable=g-import-not-at-top
  if ctx.write:
    report.write_json(os.path.join(ctx.out, f"{stem}.json"), result)
    with open(os.path.join(ctx.out, f"{stem}.md"), "w") as f:
      f.write(text)
