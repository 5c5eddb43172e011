"""Trained runs: their config and model variables, loaded for evaluation.

``load_trained(workdir, dataset, mesh)`` gives (config, model, variables) of
another run's newest checkpoint; ``other_models`` the runs a config's
evaluation uses besides its own (patch transfer, the transfer suite). Built on
``mdr.state``, not on the training loop, so evaluation and transfer can load
runs without importing training.
"""

from __future__ import annotations

import json
import os

from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from mdr import checkpoint as ckpt_lib
from mdr import config as config_lib
from mdr.state import model_variables
from mdr.state import restored_state
from mdr.state import schedule_and_steps

ResumeError = ckpt_lib.ResumeError


def load_trained(workdir: str, dataset, mesh):
  """(config, model, variables) of the newest checkpoint of another run.

  ``workdir`` must hold ``config.json`` and ``checkpoints/`` of an mdr run
  on data like ``dataset`` (the same classes); fields its config lacks
  (added to mdr later) take their defaults. ``ResumeError`` naming the
  workdir otherwise.
  """
  config = load_trained_config(workdir)
  mine = _source_name(config.data.path or config.data.name)
  if mine != _source_name(dataset.name):
    raise ResumeError(
        f"{workdir!r} was trained on other data ({mine!r}; this evaluation "
        f"uses {_source_name(dataset.name)!r}): the runs compared must share "
        f"their data")
  _, spe, sched = schedule_and_steps(config, len(dataset.train.labels))
  model, _, _, state = restored_state(config, workdir, dataset, sched,
                                      NamedSharding(mesh, P()), spe)
  return config, model, model_variables(state)


def _source_name(name_or_path: str) -> str:
  return os.path.basename(os.path.normpath(name_or_path))


def load_trained_config(workdir: str):
  """The config of a trained run (``workdir/config.json``); fields its
  config lacks (added to mdr later) take their defaults. ``ResumeError``
  if ``workdir`` is not a trained mdr run."""
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path) or not ckpt_lib.has_checkpoints(workdir):
    raise ResumeError(f"{workdir!r} is not a trained mdr run: it needs "
                      f"config.json and checkpoints/ (train it first)")
  with open(path) as f:
    return config_from_dict(json.load(f))


def config_from_dict(saved: dict):
  """``mdr.config.base_config()`` updated with a saved config (a run's
  ``config.json``); fields it lacks take their defaults, fields mdr no
  longer has are ignored."""
  config = config_lib.base_config()
  _update_known(config, saved)
  return config


def _update_known(config, saved: dict) -> None:
  """Sets the fields of ``config`` that ``saved`` (a config.json) holds,
  recursively; fields mdr no longer has are ignored."""
  for k, v in saved.items():
    if k not in config:
      continue
    if isinstance(v, dict):
      _update_known(config[k], v)
    else:
      config[k] = tuple(v) if isinstance(v, list) else v


def other_models(config, dataset, mesh) -> dict:
  """{workdir: (model, variables)} of ``eval.patch_transfer_workdirs`` and,
  with the transfer suite, ``eval.transfer.sources``."""
  out = {}
  workdirs = tuple(config.eval.patch_transfer_workdirs)
  if "transfer" in config.eval.suites:
    workdirs += tuple(config.eval.transfer.sources)
  for wd in dict.fromkeys(workdirs):
    _, model, variables = load_trained(wd, dataset, mesh)
    out[wd] = (model, variables)
  return out
