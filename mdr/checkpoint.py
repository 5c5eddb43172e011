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
                "keep_checkpoints", "data.tfds_data_dir")


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


def has_checkpoints(workdir: str) -> bool:
  """Whether ``{workdir}/checkpoints`` holds at least one committed step."""
  ckpt_dir = _checkpoint_dir(workdir)
  return os.path.isdir(ckpt_dir) and any(n.isdigit()
                                         for n in os.listdir(ckpt_dir))


def _same(a, b) -> bool:
  """Equal values, or two spellings of one existing file (``data.path``
  given relative to another working directory, or through a link)."""
  if a == b:
    return True
  return (isinstance(a, str) and isinstance(b, str) and bool(a) and bool(b)
          and os.path.exists(a) and os.path.exists(b)
          and os.path.samefile(a, b))


def check_config(workdir: str, config) -> None:
  """Refuses a workdir whose checkpoints come from a different config."""
  path = os.path.join(workdir, "config.json")
  new = json.loads(config.to_json_best_effort())
  if has_checkpoints(workdir) and os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    a, b = _flat(old), _flat(new)
    # A field added to mdr after the run was written is absent from its
    # config.json; at its default it changes nothing, so it is no difference.
    defaults = _flat(json.loads(config_lib.base_config().to_json_best_effort()))
    diff = sorted(k for k in set(a) | set(b)
                  if not _same(a.get(k), b.get(k))
                  and not k.startswith(_FREE_FIELDS)
                  and not (k not in a and k in defaults and
                           b.get(k) == defaults[k]))
    if diff:
      shown = "; ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in diff[:5])
      raise config_lib.ConfigError(
          f"workdir {workdir} holds checkpoints of a run with a different "
          f"config ({shown}). Nothing was overwritten: use a new --workdir, "
          f"or the original config to resume.")


def write_config(workdir: str, config) -> None:
  """Writes ``{workdir}/config.json`` atomically (process 0)."""
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "config.json")
    with open(path + ".tmp", "w") as f:
      json.dump(json.loads(config.to_json_best_effort()), f, indent=2,
                sort_keys=True)
    os.replace(path + ".tmp", path)


def manager(workdir: str, config) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(
      max_to_keep=config.keep_checkpoints, create=True)
  return ocp.CheckpointManager(_checkpoint_dir(workdir), options=options)


def save(mngr: ocp.CheckpointManager, step: int, state) -> None:
  mngr.save(step, args=ocp.args.StandardSave(state), force=True)


def restore_latest(mngr: ocp.CheckpointManager, state):
  """The newest checkpoint that restores, else ``state`` if there is none.

  A damaged checkpoint is skipped with a warning naming its step and moved
  aside to ``checkpoints/damaged_step_<N>`` (kept for inspection, and so the
  retrained step can be saved again). If checkpoints exist but none
  restores, this raises instead of silently starting over from step 0.
  """
  steps = sorted(mngr.all_steps(), reverse=True)
  if not steps:
    return state
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
  damaged = []
  for step in steps:
    try:
      restored = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:  # pylint: disable=broad-except
      logging.warning("checkpoint at step %d is damaged (%s: %s)", step,
                      type(e).__name__, str(e).splitlines()[0][:200])
      damaged.append(step)
      continue
    if damaged:
      _move_aside(mngr, damaged)
      logging.warning("resuming from step %d; skipped damaged checkpoint(s) "
                      "at step(s) %s, moved to %s/damaged_step_<N>", step,
                      damaged, mngr.directory)
    return restored
  raise ResumeError(
      f"no checkpoint in {mngr.directory} could be restored (tried steps "
      f"{steps}); refusing to start over from step 0 on top of them. Move "
      f"them away or use a new --workdir.")


def _move_aside(mngr: ocp.CheckpointManager, steps) -> None:
  if jax.process_index() == 0:
    for step in steps:
      src = os.path.join(str(mngr.directory), str(step))
      dst = os.path.join(str(mngr.directory), f"damaged_step_{step}")
      n = 1
      while os.path.exists(dst):
        n += 1
        dst = os.path.join(str(mngr.directory), f"damaged_step_{step}_{n}")
      os.rename(src, dst)
  mngr.reload()
