"""experiments/fast_report.py: the width benchmark's section."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "experiments"))
import fast_report  # pylint: disable=g-import-not-at-top

BENCH = """$ python experiments/bench_train.py --models=airbench@0.25,airbench@1.0 --variants=clean
backend=cpu devices=1 models=['airbench@0.25', 'airbench@1.0'] dtype=float32 steps/round=2 rounds=5 load=4.00

| network | batch | mode | steps/s (median) | images/s | step time vs the network's clean | first call (compile) s |
|---|---:|---|---:|---:|---:|---:|
| airbench@0.25 | 1024 | clean | 0.20 | 200 | 1.000 (+0.0 %) | 20.0 |
| airbench@1.0 | 1024 | clean | 0.05 | 50 | 1.000 (+0.0 %) | 40.0 |

load average at the end: 4.00
"""


def test_width_section_scales_the_measured_run_by_the_benchmark(tmp_path):
  (tmp_path / "bench_widths.md").write_text(BENCH)
  rows, command = fast_report.bench_widths(str(tmp_path))
  assert rows == [(0.25, 200.0), (1.0, 50.0)]
  assert command.startswith("python experiments/bench_train.py")
  runs = {"airbench_w0.25_e8": [dict(
      model="airbench", width=0.25, epochs=8, wall_min=12.0, accuracy=83.0,
      no_tta=82.0, load=(1.0, 1.0))]}
  text = "\n".join(fast_report.widths_section(runs, (rows, command)))
  # 8 epochs in 12 min -> 20 epochs in 30 min at width 0.25; a quarter of
  # the throughput -> 5 at width 1.
  assert "| 0.25 | 200 | 1.00 | 20.0 | 20.0 |" in text
  assert "| 1 | 50 | 0.25 | 5.0 | — |" in text
  assert "an estimate of what fits in 30 min, not a measurement" in text
  assert fast_report.bench_widths(str(tmp_path / "none")) is None
