"""The seed paper's table, and the attacks and ratios the report lays it on.

The seed paper's only table is a clean-trained ResNet on CIFAR-10 under the
three mask attacks at 0-20 % hidden. The report's columns are those attacks
(plus α-pixels, an addition of this repository) at those ratios. They are
data (``experiments/specs/seed_paper.py``, re-exported here); the attacks'
symbols and names come from the attack registry (``mdr.attacks``).
"""

# pylint: disable=unused-import
from experiments.specs.seed_paper import (
    ATTACKS, MATRIX_RATIOS, RANDOM_PIXELS, RANDOM_SQUARE, SALIENT_PIXELS,
    SALIENT_SQUARE, SEED_ATTACKS, SEED_CLEAN, SEED_TABLE, WORST_SQUARE)
# pylint: enable=unused-import
from mdr import attacks as attacks_lib

SYMBOL = {n: attacks_lib.get(n).symbol for n in attacks_lib.names()}
LONG = {n: attacks_lib.get(n).display for n in attacks_lib.names()}
