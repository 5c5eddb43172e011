"""Evaluation driven by the attack registry: a throwaway attack, name salts,
inference mode, the robustness and patch suites, and the eval batch."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO, apply_overrides, tiny_config, validate
from mdr import attacks
from mdr import config as config_lib
from mdr import data as data_lib
from mdr import evaluate
from mdr import evaluators
from mdr import masks
from mdr import report
from mdr import train


def _read(path):
  with open(path) as f:
    return json.load(f)


class StubModel:
  """A linear classifier that refuses to run in training mode."""

  def __init__(self, num_classes=10, seed=0):
    self.w = 3.0 * jax.random.normal(jax.random.key(seed),
                                     (32 * 32 * 3, num_classes)) / 55

  def apply(self, variables, x, train=False, **kwargs):
    if train or kwargs.get("mutable"):
      raise AssertionError("an attack ran the model in training mode")
    del variables
    x = x - 0.5
    return x.reshape(len(x), -1) @ self.w


@pytest.fixture(scope="module")
def shapes():
  return data_lib.synthetic(128, 64, seed=0)


def _cfg(**kw):
  c = tiny_config()
  c.eval.ratios = (0.0, 0.1)
  c.eval.sparse_ratios = (0.0, 0.5)
  c.eval.pgd_eps = (0, 8, 16)
  c.eval.pgd_steps = 3
  c.eval.patch_steps = 4
  c.eval.patch_screen_steps = 2
  c.eval.patch_universal_steps = 4
  c.eval.patch_images = 0
  c.eval.robust_images = 0
  c.eval.costly_images = 16
  c.eval.strong_steps = 3
  c.eval.strong_restarts = 2
  c.eval.strong_images = 16
  return apply_overrides(c, kw)


def test_every_suite_runs_the_model_in_inference_mode_only(shapes, tmp_path):
  c = _cfg(**{"eval.attacks": ("alpha", "beta", "gamma", "alpha_pixels",
                               "alpha_exhaustive", "fgsm", "pgd", "lavan"),
              "eval.suites": evaluators.names(),
              "eval.transfer.sources": ("src",),
              "eval.transfer.settings": ("fgsm8", "pgd8"),
              "eval.patch_sanity_steps": (2,), "eval.patch_sanity_sides": (3,)})
  validate(c)
  out = evaluate.evaluate(c, str(tmp_path), StubModel(), {}, shapes,
                          train.make_mesh(), others={"src": (StubModel(), {})})
  for name in ("clean.json", "mask_sweep.json", "sparse_pixels.json",
               "robustness.json", "robustness.md", "robustness.png",
               "patch.json", "patch.md", "patch_examples.png"):
    assert os.path.getsize(os.path.join(out, name)) > 0
  # Every registered evaluator writes the files its entry declares.
  for name in evaluators.names():
    for stem in evaluators.get(name).files:
      assert any(f.startswith(stem + ".") for f in os.listdir(out)), (name,
                                                                      stem)
  rob = _read(os.path.join(out, "robustness.json"))
  recs = [r for r in rob["records"] if r["kind"] == "sweep"]
  assert {(r["attack"], round(r["eps"] * 255)) for r in recs
          if r["loss"] == "ce"} == {(a, e) for a in ("fgsm", "pgd")
                                    for e in (0, 8, 16)}
  for r in recs:
    assert {"attack", "eps", "accuracy", "std", "n"} <= set(r)
    assert r["n"] == 64 and 0 <= r["accuracy"] <= 100
  assert any(r["loss"] == "margin" for r in rob["records"])
  assert {c["check"] for c in rob["checks"]} == {
      "monotone_in_eps", "more_steps_never_help", "converged",
      "large_eps_reaches_zero", "iterative_not_weaker"}
  sweep = _read(os.path.join(out, "mask_sweep.json"))
  ex = [r for r in sweep if r["attack"] == "alpha_exhaustive"]
  assert ex and all(r["n"] == 16 for r in ex)
  assert "fixed subset of 16" in open(os.path.join(out, "mask_sweep.md")).read()
  transfer = _read(os.path.join(out, "transfer.json"))
  assert len(transfer["records"]) == 4       # 2 settings x src -> {self, src}
  patch = _read(os.path.join(out, "patch.json"))
  assert {r["variant"] for r in patch["records"]} == {
      "per_image", "universal", "per_image (steps 2)", "per_image (side 3)"}
  assert {c["check"] for c in patch["checks"]} == {
      "per_image_not_below_universal", "not_falling_with_steps",
      "not_falling_with_side"}
  strong = _read(os.path.join(out, "pgd_strong.json"))
  assert strong["n"] == 16 and strong["restarts"] == 2
  assert 0 <= strong["accuracy"] <= strong["clean_accuracy"]


def test_a_throwaway_attack_runs_through_evaluation_and_the_report(
    shapes, tmp_path):
  def corner_masks(ctx, keys, ratio):
    del keys
    h, w = ctx.images.shape[1:3]
    s = masks.side(ratio, h, w)
    m = attacks.occlusion.square_at(0, 0, s, h, w)
    return jnp.broadcast_to(m, ctx.images.shape[:3])

  spec = attacks.register(attacks.AttackSpec(
      "corner_test", "corner (test attack)", "◤", "occlusion", random=False,
      budget="share of pixels hidden",
      pixels=lambda r, h, w: int(masks.side(r, h, w)) ** 2,
      color="black", masks=corner_masks))
  try:
    c = _cfg(**{"eval.attacks": ("corner_test", "beta"),
                "eval.suites": ("mask_sweep",)})
    validate(c)
    out = evaluate.evaluate(c, str(tmp_path), StubModel(), {}, shapes,
                            train.make_mesh())
    sweep = _read(os.path.join(out, "mask_sweep.json"))
    mine = [r for r in sweep if r["attack"] == "corner_test"]
    assert [r["hidden_pixels"] for r in mine] == [0, 100]
    md = open(os.path.join(out, "mask_sweep.md")).read()
    assert "corner (test attack)" in md
    # deterministic attack: no ± in its cells
    head = [l for l in md.splitlines() if l.startswith("| mask ratio")][0]
    row = [l for l in md.splitlines() if l.startswith("| 10 %")][0]
    cells = dict(zip(head.split("|"), row.split("|")))
    assert "±" not in cells[" corner (test attack) "]
    assert "±" in cells[" β (random square) "]
    assert spec.display in report.sweep_markdown(sweep)
  finally:
    attacks.unregister("corner_test")
  with pytest.raises(ValueError, match="unknown attack 'corner_test'"):
    attacks.get("corner_test")


def test_reordering_eval_attacks_changes_no_result(shapes, tmp_path):
  outs = []
  for i, order in enumerate((("alpha", "beta", "gamma"),
                             ("gamma", "alpha", "beta"))):
    c = _cfg(**{"eval.attacks": order, "eval.suites": ("mask_sweep",)})
    out = evaluate.evaluate(c, str(tmp_path / str(i)), StubModel(), {},
                            shapes, train.make_mesh())
    recs = _read(os.path.join(out, "mask_sweep.json"))
    outs.append(sorted(recs, key=lambda r: (r["attack"], r["ratio"])))
  assert outs[0] == outs[1]
  assert open(tmp_path / "0" / "eval" / "mask_sweep.md").read() == \
      open(tmp_path / "1" / "eval" / "mask_sweep.md").read()


def test_extra_fills_write_a_sweep_per_fill_and_equal_a_run_with_that_fill(
    shapes, tmp_path):
  """eval.extra_fills: the mask suites once more per fill, in files with a
  _<fill> suffix whose records say their fill; the mean-fill files hold the
  numbers of a run whose eval.fill is mean, and differ from zero fill."""
  kw = {"eval.attacks": ("alpha", "gamma"),
        "eval.suites": ("mask_sweep", "sparse_pixels")}
  both = evaluate.evaluate(_cfg(**kw, **{"eval.extra_fills": ("mean",)}),
                           str(tmp_path / "both"), StubModel(), {}, shapes,
                           train.make_mesh())
  alone = evaluate.evaluate(_cfg(**kw, **{"eval.fill": "mean"}),
                            str(tmp_path / "alone"), StubModel(), {}, shapes,
                            train.make_mesh())
  for stem in ("mask_sweep", "sparse_pixels"):
    zero = _read(os.path.join(both, f"{stem}.json"))
    mean = _read(os.path.join(both, f"{stem}_mean.json"))
    assert {r["fill"] for r in zero} == {"zero"}
    assert {r["fill"] for r in mean} == {"mean"}
    assert mean == _read(os.path.join(alone, f"{stem}.json"))
    assert [r["accuracy"] for r in mean] != [r["accuracy"] for r in zero]
    assert "mean fill" in open(os.path.join(both, f"{stem}_mean.md")).read()
    assert os.path.exists(os.path.join(both, f"{stem}_mean.png"))


def test_costly_attacks_run_at_eval_costly_ratios_on_the_subset(shapes,
                                                                 tmp_path):
  c = _cfg(**{"eval.attacks": ("alpha", "alpha_exhaustive"),
              "eval.suites": ("mask_sweep",), "eval.ratios": (0.0, 0.1, 0.2),
              "eval.costly_ratios": (0.2,)})
  out = evaluate.evaluate(c, str(tmp_path), StubModel(), {}, shapes,
                          train.make_mesh())
  recs = _read(os.path.join(out, "mask_sweep.json"))
  got = {(r["attack"], r["ratio"], r["n"]) for r in recs}
  assert got == {("alpha", 0.0, 64), ("alpha", 0.1, 64), ("alpha", 0.2, 64),
                 ("alpha_exhaustive", 0.2, 16)}
  with pytest.raises(config_lib.ConfigError, match="eval.costly_ratios"):
    validate(_cfg(**{"eval.costly_ratios": (1.5,)}))


@pytest.mark.parametrize("extra", [("zero",), ("mean", "mean"), ("grey",)])
def test_extra_fills_must_be_distinct_known_fills_other_than_eval_fill(extra):
  c = _cfg(**{"eval.extra_fills": extra})
  with pytest.raises(config_lib.ConfigError, match="eval.extra_fills"):
    validate(c)


def test_importing_evaluation_keeps_the_backend_and_needs_no_train():
  code = ("import matplotlib; b = matplotlib.get_backend(); "
          "import mdr.evaluate, mdr.report, mdr.robustness, mdr.patch_eval; "
          "assert matplotlib.get_backend() == b, matplotlib.get_backend(); "
          "import sys; assert 'mdr.train' not in sys.modules, 'cycle'; "
          "print(b)")
  env = dict(os.environ, MPLBACKEND="svg")
  proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                        capture_output=True, text=True, check=False)
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.strip() == "svg"


def test_eval_batch_fits_any_device_count(monkeypatch):
  for d in (1, 2, 3, 8, 16):
    monkeypatch.setattr(jax, "device_count", lambda d=d: d)
    b = evaluate.eval_batch(500, 10000)
    assert b % d == 0 and 500 <= b < 500 + d
    assert evaluate.eval_batch(512, 20) % d == 0
  c = tiny_config()
  c.eval.batch_size = 500
  validate(c, num_devices=8)   # no longer rejected


def test_config_names_the_unknown_attack_and_lists_registered():
  c = _cfg(**{"eval.attacks": ("alpha", "delta")})
  with pytest.raises(config_lib.ConfigError,
                     match=r"'delta' is not a registered attack; registered: "
                     r"\['fgsm', 'pgd', 'alpha'"):
    validate(c)
  for field, value, match in (("eval.pgd_eps", (0, 300), "eval.pgd_eps"),
                              ("eval.patch_ratio", 0.0, "eval.patch_ratio"),
                              ("eval.patch_domains", ("pixels",),
                               "eval.patch_domains"),
                              ("eval.patch_location", "middle",
                               "eval.patch_location"),
                              ("eval.pgd_steps", 0, "eval.pgd_steps"),
                              ("eval.sparse_attack", "pgd",
                               "eval.sparse_attack")):
    with pytest.raises(config_lib.ConfigError, match=match):
      validate(_cfg(**{field: value}))


def test_workdir_from_before_new_fields_still_evaluates(tmp_path):
  # A run written before model.width / train.flip / ... existed: its
  # config.json lacks them; at their defaults they are no difference.
  from mdr import checkpoint as ckpt_lib  # pylint: disable=g-import-not-at-top
  c = tiny_config()
  wd = tmp_path / "wd"
  (wd / "checkpoints" / "8").mkdir(parents=True)
  old = json.loads(c.to_json_best_effort())
  del old["model"]["width"], old["train"]["flip"], old["optim"]["bias_lr_scale"]
  (wd / "config.json").write_text(json.dumps(old))
  ckpt_lib.check_config(str(wd), c)            # accepted
  data = tmp_path / "data.zip"                 # one file, two spellings
  data.write_bytes(b"")
  old["data"]["path"] = str(data)
  (wd / "config.json").write_text(json.dumps(old))
  c.data.path = os.path.relpath(data)
  ckpt_lib.check_config(str(wd), c)            # accepted
  c.data.path = str(tmp_path / "other.zip")    # another file: a difference
  with pytest.raises(config_lib.ConfigError, match="data.path"):
    ckpt_lib.check_config(str(wd), c)
  c.data.path = str(data)
  c.model.width = 0.5                          # a real difference
  with pytest.raises(config_lib.ConfigError, match="model.width"):
    ckpt_lib.check_config(str(wd), c)


def test_universal_patch_transfers_to_another_run(tmp_path):
  runs = {}
  for seed in (0, 1):
    c = tiny_config(**{"seed": seed, "eval.suites": (), "train.steps": 2,
                       "log_every_steps": 2, "checkpoint_every_steps": 2})
    train.train_and_evaluate(c, str(tmp_path / f"run{seed}"))
    runs[seed] = c
  c = runs[0]
  c.eval.attacks = ("lavan",)
  c.eval.suites = ("patch",)
  c.eval.patch_steps = 3
  c.eval.patch_screen_steps = 2
  c.eval.patch_universal_steps = 3
  c.eval.patch_domains = ("image",)
  c.eval.patch_location = "random"   # the search has its own tests
  c.eval.patch_transfer_workdirs = (str(tmp_path / "run1"),)
  out = train.evaluate_only(c, str(tmp_path / "run0"))["eval_dir"]
  recs = _read(os.path.join(out, "patch.json"))["records"]
  assert [r["variant"] for r in recs] == ["per_image", "universal",
                                          "universal → run1"]
  assert recs[2]["transfer_to"] == str(tmp_path / "run1")
  c.eval.patch_transfer_workdirs = (str(tmp_path / "nope"),)
  with pytest.raises(train.ResumeError, match="is not a trained mdr run"):
    train.evaluate_only(c, str(tmp_path / "run0"))
