"""docs/extending.md's examples run as printed: the attack, evaluator and
objective each reach a run through their registry alone."""

import json
import os
import re

import pytest

from conftest import REPO, tiny_config, validate
from mdr import attacks
from mdr import evaluators
from mdr import objectives
from mdr import train


def _blocks():
  text = open(os.path.join(REPO, "docs", "extending.md")).read()
  return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_examples_of_docs_extending_reach_a_run(tmp_path):
  attack, evaluator, objective = _blocks()[:3]
  try:
    exec(compile(attack, "extending.md:attack", "exec"), {})
    exec(compile(evaluator, "extending.md:evaluator", "exec"), {})
    exec(compile(objective, "extending.md:objective", "exec"), {})
    c = tiny_config(**{"train.mode": "half_hidden",
                       "eval.suites": ("clean", "mask_sweep", "mirrored"),
                       "eval.attacks": ("beta", "centre")})
    validate(c)
    out = train.train_and_evaluate(c, str(tmp_path / "wd"))["eval_dir"]
    sweep = json.load(open(os.path.join(out, "mask_sweep.json")))
    centre = {r["ratio"]: r for r in sweep if r["attack"] == "centre"}
    clean = json.load(open(os.path.join(out, "clean.json")))["accuracy"]
    assert centre[0.0]["accuracy"] == pytest.approx(clean)
    assert centre[0.1]["hidden_pixels"] == 100    # a 10 x 10 square of 32 x 32
    mirrored = json.load(open(os.path.join(out, "mirrored.json")))
    assert mirrored["n"] == 96 and 0 <= mirrored["accuracy"] <= 100
  finally:
    attacks.unregister("centre")
    evaluators.unregister("mirrored")
    objectives.REGISTRY.pop("half_hidden", None)
