"""experiments/README.md's section on LaVAN with the location searched, from
``results/lavan_search/<name>/lavan.json`` (``experiments/lavan_search.py``)."""

import glob
import json
import os


def section(results, rel):
  """Markdown of every finished lavan_search result under ``results``."""
  runs = []
  for path in sorted(glob.glob(os.path.join(results, "lavan_search", "*",
                                            "lavan.json"))):
    run = json.load(open(os.path.join(os.path.dirname(path), "run.json")))
    if run.get("status") == "done":
      runs.append((os.path.basename(os.path.dirname(path)), run,
                   json.load(open(path))))
  if not runs:
    return ""
  out = ["## LaVAN per image: the location searched", "",
         "The matrix's per-image LaVAN cells were measured with the patch at "
         "one place, the bottom-right corner. With the location searched "
         "per image "
         "(`mdr.attacks.patch.search`: the four corners, the most salient "
         "window and random positions, a short screen at each and the full "
         "budget at the best two, never weaker than one random location), "
         "on the same correctly classified images and targets, the targeted "
         "success (argmax = target) with its 95 % Wilson interval:", ""]
  for name, run, res in runs:
    s = res["settings"]
    out += [f"**{name}** (`{res['weights']}`): {res['n_correct']} correctly "
            f"classified of {res['images']} test images, a {res['side']}x"
            f"{res['side']} patch, {s['steps']} steps (screen {s['screen_steps']}"
            f", {s['restarts']} restart(s) at the best {s['keep']}); "
            f"`{run['command']}` at {run['commit'][:7]}.", "",
            "| domain | location | success % | 95 % interval | k / n |",
            "|---|---|---:|---|---:|"]
    for r in res["records"]:
      out.append(f"| {r['domain']} | {r['location']} | {r['success']:.1f} | "
                 f"[{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}] | "
                 f"{r['k']} / {r['n']} |")
    out += ["", "Sanity checks: " + "; ".join(
        f"{f['check']} {'passed' if f['passed'] else 'FAILED'}"
        for f in res["flags"]) + ".", ""]
    get = lambda d, l: next((r for r in res["records"] if r["domain"] == d
                             and r["location"] == l), None)
    corner, search = get("image", "bottom_right"), get("image", "search")
    if corner and search:
      out += [f"What changes: at the corner this model looked nearly immune "
              f"to per-image patches ({corner['success']:.1f} % in the image "
              f"domain); searched, {search['success']:.1f} % of its images "
              "are pushed to the target. The matrix's LaVAN per-image column "
              "and the conclusions drawn from it (e.g. that Random Mask "
              "models are more open to patches) rest on the corner and are "
              "not yet re-measured with the search for the other rows.", ""]
  out.append(f"Files: `{rel}/lavan_search/`.")
  return "\n".join(out) + "\n"
