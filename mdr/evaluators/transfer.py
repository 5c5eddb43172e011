"""``transfer``: black-box transfer: adversarial examples crafted on each run
of ``eval.transfer.sources`` tested on the evaluated model and on each
other (``mdr.transfer.suite``; ``transfer.{json,md}``)."""

from __future__ import annotations

from mdr import transfer as transfer_lib
from mdr.evaluators import registry


def run(ctx: registry.Context):
  return transfer_lib.suite(ctx.config, ctx.workdir, ctx.model, ctx.variables,
                            ctx.dataset, ctx.others, ctx.out)


def check(config) -> None:
  tr = config.eval.transfer
  if "transfer" in config.eval.suites and (isinstance(tr.sources, str) or
                                           not tr.sources):
    registry.fail("eval.transfer.sources", tr.sources, "a non-empty list of "
                  "trained run workdirs when eval.suites has 'transfer'")
  registry.check_int("eval.transfer.images", tr.images, 0,
                     "an integer >= 0 (0 = all)")
  transfer_lib.check_config(config)


EVALUATOR = registry.register(registry.Evaluator(
    name="transfer", run=run, check=check,
    doc="black-box transfer from the runs of eval.transfer.sources",
    fields=("transfer.sources", "transfer.images", "transfer.settings"),
    files=("transfer",)))
