#!/bin/bash
# Checks that moving the training modes into mdr.objectives changed no result:
# trains and evaluates the demo (mixed) and short clean and masked runs with two
# checkouts and compares metrics.jsonl and the eval files (timings aside).
#   bash experiments/objectives_identity.sh BEFORE_CHECKOUT AFTER_CHECKOUT [OUT]
# (checked with BEFORE = c018033, the last commit with the modes in mdr/train.py,
# and AFTER = 0cd0af5).
set -euo pipefail
BEFORE=$1; AFTER=$2; OUT=${3:-/tmp/objectives_identity}
SHORT=(--config.train.steps=60 '--config.eval.suites=("clean","mask_sweep")'
       '--config.eval.attacks=("alpha","beta","gamma")')
for side in before after; do
  dir=$BEFORE; [ $side = after ] && dir=$AFTER
  (cd "$dir" &&
   python -m mdr.main --config configs/demo.py --workdir "$OUT/$side/mixed" &&
   python -m mdr.main --config configs/demo.py --workdir "$OUT/$side/clean" \
       --config.train.mode=clean "${SHORT[@]}" &&
   python -m mdr.main --config configs/demo.py --workdir "$OUT/$side/masked" \
       --config.train.mode=masked "${SHORT[@]}")
done
python - "$OUT" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
bad = 0
for mode in ("mixed", "clean", "masked"):
  a, b = (os.path.join(out, s, mode) for s in ("before", "after"))
  names = ["metrics.jsonl"] + sorted(
      os.path.relpath(p, a) for p in glob.glob(os.path.join(a, "eval", "*"))
      if p.endswith((".json", ".md")))
  for name in names:
    x, y = (open(os.path.join(d, name)).read() for d in (a, b))
    if name.endswith(".json"):
      x, y = json.loads(x), json.loads(y)
      for d in (x, y):
        if isinstance(d, dict):
          d.pop("seconds", None)
    same = x == y
    bad += not same
    print(f"{mode:7s} {name:28s} {'identical' if same else 'DIFFERENT'}")
sys.exit(1 if bad else 0)
PY
