"""The name ``experiments/extra_eval.py`` had before it served every group.

Kept so that the commands recorded in committed ``run.json`` files still run:
``python experiments/adversarial_eval.py ARGS`` is
``python experiments/extra_eval.py ARGS`` (whose ``--group`` defaults to
``adversarial``).
"""

import os
import sys

from absl import app

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import extra_eval  # pylint: disable=g-import-not-at-top

if __name__ == "__main__":
  app.run(extra_eval.main)
