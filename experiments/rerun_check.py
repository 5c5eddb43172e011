r"""Whether retrained runs reproduce an earlier training of the same runs.

A run retrained by the same command and seed should give the same model; its
clean accuracy, mask sweep and white-box records then match the earlier
training's to every digit. The earlier files are read from git: for each
``<results>/<run>/seed<k>/``, the newest commit whose ``run.json`` there is of
a finished run that started before ``before`` (an ISO time, e.g. when an
evaluation over the earlier models, such as a transfer matrix, ended).

  python -m experiments.rerun_check experiments/results/cifar10_cpu/random_mask \
      --before=2026-11-27T14:20:53

Used by ``random_mask_report`` to say whether a transfer matrix measured on
an earlier training still describes the retrained models.
"""

import argparse
import json
import os
import subprocess
import sys

from experiments import provenance

REPO = provenance.REPO
FILES = ("clean", "mask_sweep", "robustness")
# The fields that name a record of mask_sweep.json / robustness.json.
KEY_FIELDS = ("attack", "ratio", "eps", "steps", "loss", "kind", "fill", "n",
              "restarts")


def cells(name, data):
  """{key: accuracy} of one result file's contents."""
  if name == "clean":
    return {("clean",): data["accuracy"]}
  records = data["records"] if isinstance(data, dict) else data
  return {(name, *((k, r[k]) for k in KEY_FIELDS if k in r)): r["accuracy"]
          for r in records}


def _git(*args, repo=REPO):
  proc = subprocess.run(["git", *args], cwd=repo, capture_output=True,
                        text=True, check=False)
  return proc.stdout if proc.returncode == 0 else None


def earlier_commit(rel_seed_dir, before, repo=REPO):
  """The newest commit whose ``<rel_seed_dir>/run.json`` is of a finished
  run started before ``before``; None when git has none (or no history)."""
  path = f"{rel_seed_dir}/run.json"
  log = _git("log", "--format=%H", "--", path, repo=repo)
  for sha in (log or "").split():
    # A commit that deleted the file has no version of it.
    text = _git("show", f"{sha}:{path}", repo=repo)
    if text is None:
      continue
    record = json.loads(text)
    if provenance.finished(record) and record.get("started", "") < before:
      return sha
  return None


def compare(results, before, repo=REPO):
  """Cells shared by each finished run under ``results`` and its earlier
  training: dict(same=count, different=[(run, seed dir, key, new, old)],
  unmatched=[seed dirs without an earlier training], commits=[...])."""
  out = dict(same=0, different=[], unmatched=[], commits=set())
  for run, seed_dir, _ in provenance.finished_runs(results):
    rel = os.path.relpath(seed_dir, repo).replace(os.sep, "/")
    sha = earlier_commit(rel, before, repo)
    if sha is None:
      out["unmatched"].append(rel)
      continue
    out["commits"].add(sha[:7])
    for name in FILES:
      path = os.path.join(seed_dir, f"{name}.json")
      old = _git("show", f"{sha}:{rel}/{name}.json", repo=repo)
      if old is None or not os.path.exists(path):
        continue
      with open(path) as f:
        new_cells = cells(name, json.load(f))
      old_cells = cells(name, json.loads(old))
      for key in sorted(set(new_cells) & set(old_cells), key=str):
        if new_cells[key] == old_cells[key]:
          out["same"] += 1
        else:
          out["different"].append((run, os.path.basename(seed_dir), key,
                                   new_cells[key], old_cells[key]))
  out["commits"] = sorted(out["commits"])
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("results")
  parser.add_argument("--before", required=True,
                      help="ISO time: the earlier training started before it")
  args = parser.parse_args()
  res = compare(os.path.abspath(args.results), args.before)
  print(f"earlier trainings at {', '.join(res['commits']) or '-'}: "
        f"{res['same']} cells identical, {len(res['different'])} different")
  for d in res["different"]:
    print("  different:", *d)
  for u in res["unmatched"]:
    print("  no earlier training:", u)


if __name__ == "__main__":
  main()
