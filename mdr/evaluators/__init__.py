"""Evaluators: what a run measures after training, one module each.

``config.eval.suites`` names them, in the order they run; each entry says
which ``config.eval`` fields it reads and checks them (``check_config``).
Adding one: a module here whose ``EVALUATOR = register(Evaluator(...))``
registers it, and its import line below (docs/extending.md has a worked example). The shared pieces (the
``Context`` every evaluator gets, the batched counting loop, the field
checks) are in ``registry``.
"""

from mdr.evaluators import registry
from mdr.evaluators.registry import check_config
from mdr.evaluators.registry import Context
from mdr.batches import count_over_batches
from mdr.batches import eval_batch
from mdr.evaluators.registry import Evaluator
from mdr.evaluators.registry import get
from mdr.evaluators.registry import names
from mdr.evaluators.registry import register
from mdr.evaluators.registry import Reading
from mdr.evaluators.registry import REGISTRY
from mdr.evaluators.registry import Table
from mdr.evaluators.registry import unregister

# Each module registers its entry when imported: one line per evaluator,
# in the order listings show them (runs follow eval.suites).
from mdr.evaluators import clean  # pylint: disable=g-bad-import-order
from mdr.evaluators import mask_sweep
from mdr.evaluators import sparse_pixels
from mdr.evaluators import robustness
from mdr.evaluators import pgd_strong
from mdr.evaluators import patch
from mdr.evaluators import transfer
from mdr.evaluators import patch_cleanser
from mdr.evaluators import smoothing
