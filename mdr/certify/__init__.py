"""Certified patch robustness from masks: column de-randomized smoothing
(``ds``, Levine & Feizi 2020) and PatchCleanser (``pc``, Xiang et al. 2022).

A certificate says that no patch of the threat model (one ``p``×``p`` square
anywhere, any values) can change the defended prediction. Both defences run
the model in inference mode on masked or ablated copies of the image; the
rules here (mask sets, votes, tie orders) follow the reference
implementations, with every deliberate difference named where it is made.
``empirical`` attacks the defended predictions (a check, not a proof).
"""

from mdr.certify import ds
from mdr.certify import empirical
from mdr.certify import pc
