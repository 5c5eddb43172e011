"""Entry point: ``python -m mdr.main --config configs/<name>.py``.

  python -m mdr.main --config configs/demo.py                 # 3-minute offline demo
  python -m mdr.main --config configs/mixed.py                # the main job (GPU/TPU)
  python -m mdr.main --config configs/mixed.py:cpu --config.data.path=cifar10.zip
  python -m mdr.main --config configs/mixed.py --workdir runs/m --mode eval

``--mode train`` (default) trains, resuming from ``--workdir`` if it holds a
run, then evaluates; ``--mode eval`` evaluates the latest checkpoint.
"""

import logging as std_logging
import os
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a config file (configs/<name>.py[:arg]).",
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Run directory (checkpoints, metrics, eval). Default: "
    "workdirs/<config name>[_<arg>].")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "eval"],
                          "train (then evaluate) or eval only.")
_WEIGHTS = flags.DEFINE_string(
    "weights", "", "--mode=eval only: evaluate these stored weights "
    "(a .msgpack of mdr.weights) instead of the workdir's checkpoint.")
_COORDINATOR = flags.DEFINE_string(
    "coordinator", "", "Multi-process runs: host:port of process 0 (with "
    "--num_processes and --process_id), or 'auto' to let "
    "jax.distributed.initialize() detect Cloud TPU / SLURM / Open MPI. "
    "Empty: one process.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", 1, "Processes.")
_PROCESS_ID = flags.DEFINE_integer("process_id", 0, "This process's index.")


def default_workdir(config_path: str) -> str:
  name, _, arg = config_path.partition(":")
  base = os.path.splitext(os.path.basename(name))[0]
  return os.path.join("workdirs", base + (f"_{arg}" if arg else ""))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  import jax  # pylint: disable=g-import-not-at-top
  if _COORDINATOR.value == "auto":  # Cloud TPU, SLURM, Open MPI
    jax.distributed.initialize()
  elif _COORDINATOR.value:
    jax.distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value,
                               _PROCESS_ID.value)
  from mdr import config as config_lib  # pylint: disable=g-import-not-at-top
  from mdr import data as data_lib  # pylint: disable=g-import-not-at-top
  from mdr import train  # pylint: disable=g-import-not-at-top
  from mdr import weights as weights_lib  # pylint: disable=g-import-not-at-top
  if _WEIGHTS.value and _MODE.value != "eval":
    raise app.UsageError("--weights evaluates stored weights: use it with "
                         "--mode=eval")

  config_path = flags.FLAGS["config"].config_filename
  workdir = _WORKDIR.value or default_workdir(config_path)
  logging.info("config %s, workdir %s, mode %s", config_path, workdir,
               _MODE.value)
  try:
    if _MODE.value == "train":
      result = train.train_and_evaluate(_CONFIG.value, workdir)
    elif _WEIGHTS.value:
      result = train.evaluate_stored(_CONFIG.value, workdir, _WEIGHTS.value)
    else:
      result = train.evaluate_only(_CONFIG.value, workdir)
  except (config_lib.ConfigError, data_lib.DataError,
          train.NonFiniteError, train.ResumeError, weights_lib.WeightsError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  logging.info("done: %s", {k: v for k, v in result.items()})


class _QuietLibraries(std_logging.Filter):
  """Drops INFO chatter of Orbax and friends; keeps their warnings."""

  def filter(self, record):
    noisy = any(s in record.pathname for s in ("orbax", "etils",
                                                "tensorflow_datasets"))
    return record.levelno >= std_logging.WARNING or not noisy


def _short(text: str) -> str:
  """A flag error as one line: a traceback inside it keeps its last line."""
  lines = [l.strip() for l in text.splitlines() if l.strip()]
  if any(l.startswith("Traceback") for l in lines):
    return f"{lines[0]} {lines[-1]}"
  return " ".join(lines)


def _parse_flags(argv):
  """absl flag parsing with one-line errors instead of tracebacks."""
  try:
    rest = flags.FLAGS(argv)
    _CONFIG.value.get("seed")  # a config file that failed to load raises
    return rest
  except flags.Error as e:
    sys.exit(f"error: {_short(str(e))}\nPass --helpfull to list the flags.")
  except OSError:
    path = flags.FLAGS["config"].config_filename
    why = ("no such file" if not os.path.exists(path.split(":")[0]) else
           "it failed to import; run python on it to see why")
    sys.exit(f"error: cannot load config file {path!r}: {why}. Configs are "
             f"configs/<name>.py files with get_config(); e.g. "
             f"configs/demo.py.")
  except (KeyError, AttributeError, TypeError, ValueError) as e:
    text = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
    overrides = [a for a in argv[1:] if a.startswith("--config")]
    sys.exit(f"error: bad config {' '.join(overrides)}: "
             f"{' '.join(text.split())}. Config fields are listed in "
             f"mdr/config.py.")


def run():
  flags.mark_flag_as_required("config")
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(_QuietLibraries())
  app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
  run()
