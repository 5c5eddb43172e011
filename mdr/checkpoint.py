"""Checkpoints with Orbax: atomic, step-numbered, resumable, guarded.

``{workdir}/checkpoints/<step>/`` is written by Orbax's ``CheckpointManager``
(a temporary directory renamed on commit, so a crash mid-save leaves no
half-written step behind). ``{workdir}/config.json`` records the config of the
run; a rerun with a config that would change the trained model is refused.
"""

from __future__ import annotations

import json
import os

from absl import logging
import jax
import orbax.checkpoint as ocp

from mdr import config as config_lib

# Fields that may change between a run and its resumption: they do not change
# the trained parameters.
_FREE_FIELDS = ("eval.", "log_every_steps", "checkpoint_every_steps",
                "keep_checkpoints", "data.path", "data.tfds_data_dir")


class ResumeError(RuntimeError):
  """Checkpoints exist but cannot be used (none restores, or none at all)."""


def _flat(d, prefix=""):
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flat(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def _checkpoint_dir(workdir: str) -> str:
  return os.path.abspath(os.path.join(workdir, "checkpoints"))


def check_or_write_config(workdir: str, config) -> None:
  """Refuses a workdir whose checkpoints come from a different config."""
  path = os.path.join(workdir, "config.json")
  new = json.loads(config.to_json_best_effort())
  has_ckpt = os.path.isdir(_checkpoint_dir(workdir)) and any(
      n.isdigit() for n in os.listdir(_checkpoint_dir(workdir)))
  if has_ckpt and os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    a, b = _flat(old), _flat(new)
    diff = sorted(k for k in set(a) | set(b)
                  if a.get(k) != b.get(k) and not k.startswith(_FREE_FIELDS))
    if diff:
      shown = "; ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in diff[:5])
      raise config_lib.ConfigError(
          f"workdir {workdir} holds checkpoints of a run with a different "
          f"config ({shown}). Nothing was overwritten: use a new --workdir, "
          f"or the original config to resume.")
  if jax.process_index() == 0:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
      json.dump(new, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def manager(workdir: str, config) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(
      max_to_keep=config.keep_checkpoints, create=True)
  return ocp.CheckpointManager(_checkpoint_dir(workdir), options=options)


def save(mngr: ocp.CheckpointManager, step: int, state) -> None:
  mngr.save(step, args=ocp.args.StandardSave(state), force=True)


def restore_latest(mngr: ocp.CheckpointManager, state):
  """The newest checkpoint that restores, else ``state`` if there is none.

  A damaged newest checkpoint is skipped with a warning naming its step; if
  checkpoints exist but none restores, this raises instead of silently
  starting over from step 0.
  """
  steps = sorted(mngr.all_steps(), reverse=True)
  if not steps:
    return state
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
  errors = []
  for step in steps:
    try:
      restored = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
      if errors:
        logging.warning("resuming from step %d; skipped damaged checkpoint(s): "
                        "%s", step, "; ".join(errors))
      return restored
    except Exception as e:  # pylint: disable=broad-except
      logging.warning("checkpoint at step %d is damaged (%s: %s)", step,
                      type(e).__name__, str(e).splitlines()[0][:200])
      errors.append(f"step {step}")
  raise ResumeError(
      f"no checkpoint in {mngr.directory} could be restored (tried steps "
      f"{steps}); refusing to start over from step 0 on top of them. Move "
      f"them away or use a new --workdir.")
