"""The black-box transfer column of the model × attack matrix, as one step.

``command`` builds ``python -m mdr.transfer`` (at ``matrix_report.TRANSFER``)
for one group of ``matrix_report.GROUPS``: sources = the group's finished
standard runs (``matrix_report.TRANSFER_DIRS``), targets = every finished run
of the group, each by the ``--workdir`` its ``run.json`` records; output =
the group's transfer directory. ``run`` runs it with its own ``run.json``.
Used by ``cifar10.py --transfer`` (the MDR models) and ``extra_eval.py
--transfer`` (any group); no absl flags here, so both can import it.
"""

import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable=g-import-not-at-top
import provenance
from matrix_report import GROUPS, TRANSFER, TRANSFER_DIRS
# pylint: enable=g-import-not-at-top


def command(root, group, data, images, fallback=None):
  """(argv, output directory) of the group's transfer under the results root
  ``root`` (``.../cifar10_<scale>``). A recorded workdir without checkpoints
  is looked up as ``<fallback>/<run>_seed<k>`` when ``fallback`` is given.
  Exits with a message naming the problem when the group has no transfer
  column, no finished standard run, or a run whose checkpoints are gone."""
  if group not in TRANSFER_DIRS:
    sys.exit(f"error: --group={group} has no transfer column; groups with "
             f"one: {sorted(TRANSFER_DIRS)}")
  sub, is_standard = TRANSFER_DIRS[group]
  group_dir = {g: s for g, s, _ in GROUPS}[group]
  results = os.path.join(root, group_dir) if group_dir else root
  has = lambda w: w is not None and os.path.isdir(os.path.join(w,
                                                               "checkpoints"))
  runs = []   # (run name, workdir)
  for name, seed_dir, record in provenance.finished_runs(results):
    workdir = provenance.workdir_of(shlex.split(record.get("command", "")))
    if not has(workdir) and fallback:
      workdir = os.path.join(fallback, f"{name}_{os.path.basename(seed_dir)}")
    runs.append((name, workdir))
  missing = [w for _, w in runs if not has(w)]
  if missing:
    sys.exit(f"error: no checkpoints in {missing} (their workdirs are gone): "
             "retrain them, or transfer without them")
  sources = [w for name, w in runs if is_standard(name)]
  if not sources:
    sys.exit(f"error: no finished standard run of --group={group} in "
             f"{results}: train one first")
  return [sys.executable, "-m", "mdr.transfer",
          "--sources=" + ",".join(sources),
          "--targets=" + ",".join(w for _, w in runs), f"--data={data}",
          f"--images={images}", f"--settings={TRANSFER}",
          f"--out={os.path.join(root, sub)}"], os.path.join(root, sub)


def run(cmd, out, short_root, dry_run):
  """Runs ``cmd`` (unless ``dry_run``) as the step ``transfer`` with its
  ``out/run.json``; skipped when that says done. Prints the command with
  ``short_root`` shown as ``../``."""
  if provenance.is_done(os.path.join(out, "run.json")):
    print(f"transfer: done, skipped ({out}/run.json; move {out} away to "
          "redo it over the runs trained since)", flush=True)
    return
  short = "python " + shlex.join(cmd[1:]).replace(short_root + os.sep, "../")
  print(f"transfer: {short}", flush=True)
  if not dry_run:
    provenance.run_step(cmd, out, short, step="transfer")
