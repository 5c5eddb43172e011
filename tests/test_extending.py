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


def test_a_new_attack_evaluator_and_group_reach_the_readme_matrix(tmp_path):
  """The attack, evaluator and group examples of docs/extending.md, and no
  other edit: a trained run of the throwaway group appears in the model ×
  attack matrix of the generated README, with the throwaway attack and
  evaluator as columns whose cells are the run's own numbers."""
  import shutil  # pylint: disable=g-import-not-at-top
  from experiments import matrix_report  # pylint: disable=g-import-not-at-top
  from experiments import provenance  # pylint: disable=g-import-not-at-top
  from experiments import report  # pylint: disable=g-import-not-at-top
  from experiments import specs  # pylint: disable=g-import-not-at-top
  blocks = _blocks()
  attack, evaluator, group = blocks[0], blocks[1], blocks[4]
  try:
    exec(compile(attack, "extending.md:attack", "exec"), {})
    exec(compile(evaluator, "extending.md:evaluator", "exec"), {})
    exec(compile(group, "extending.md:group", "exec"), {})
    spec = specs.get("centre_demo")
    c = tiny_config(**{"eval.suites": ("clean", "mask_sweep",
                                       "sparse_pixels", "mirrored"),
                       "eval.attacks": ("alpha", "beta", "gamma",
                                        "alpha_pixels", "centre"),
                       "eval.ratios": (0.0, 0.1, 0.2), "eval.tta": 0})
    validate(c)
    wd = str(tmp_path / "wd")
    out = train.train_and_evaluate(c, wd)["eval_dir"]
    results = tmp_path / "results"
    # The run as the runner leaves it, in the group's results directory,
    # and once more as the MDR clean model (the README needs its scale).
    for seed_dir in (results / spec.results / "clean" / "seed0",
                     results / "cifar10_cpu" / "clean" / "seed0"):
      os.makedirs(seed_dir)
      for name in os.listdir(out):
        if name.endswith(".json"):
          shutil.copy(os.path.join(out, name), seed_dir)
      shutil.copy(os.path.join(wd, "config.json"), seed_dir)
      (seed_dir / "run.json").write_text(json.dumps(
          {"status": "done", "seed": 0, "commit": "0" * 40, "command": "python -m "
           "mdr.main --config=configs/demo.py", "wall_s": 1.0,
           "machine": provenance.machine()}))
    readme = tmp_path / "README.md"
    report.main(["report", f"--results={results}", f"--out={readme}"])
    text = open(readme).read()
    section = text[text.index("## Every model × every attack"):]
    header = [l for l in section.splitlines() if l.startswith("| model |")][0]
    heads = [h.strip() for h in header.strip("|").split("|")]
    assert heads[-2:] == ["c 20 %", "mirrored"]
    row = [l for l in section.splitlines() if l.startswith("| Centre · clean")]
    cells = [x.strip() for x in row[0].strip("|").split("|")]
    sweep = json.load(open(os.path.join(out, "mask_sweep.json")))
    centre = [r["accuracy"] for r in sweep
              if r["attack"] == "centre" and abs(r["ratio"] - 0.2) < 1e-9]
    mirrored = json.load(open(os.path.join(out, "mirrored.json")))
    assert cells[-2:] == [f"{centre[0]:.1f}", f"{mirrored['accuracy']:.1f}"]
    # The MDR row (the same files) reads the same cells through the columns
    # the throwaway group added.
    rows = matrix_report.matrix(str(results / "cifar10_cpu"))
    mdr_row = [r for r in rows if r["group"] == "mdr"][0]
    assert mdr_row["cells"]["mirrored"]["value"] == mirrored["accuracy"]
  finally:
    attacks.unregister("centre")
    evaluators.unregister("mirrored")
    specs.unregister("centre_demo")
