"""The robustness suite's sanity checks on hand-made records: what each one
flags and what it must not."""

from mdr import robustness


def _rec(attack, eps255, acc, steps=20, kind="sweep", loss="ce"):
  return dict(attack=attack, eps=eps255 / 255, accuracy=acc, steps=steps,
              kind=kind, loss=loss, n=500)


def _checks(records):
  return {(c["check"], c["attack"]): c for c in
          robustness.checks(records, 500)}


def test_fgsm_rising_with_eps_is_not_a_failure_but_pgd_rising_is():
  """One signed step can raise the loss without flipping the argmax: FGSM's
  accuracy may rise with ε. PGD's may not."""
  found = _checks([_rec("fgsm", 2, 30.0, 1), _rec("fgsm", 8, 35.0, 1),
                   _rec("pgd", 2, 20.0), _rec("pgd", 8, 25.0)])
  assert ("monotone_in_eps", "fgsm") not in found
  assert not found[("monotone_in_eps", "pgd")]["passed"]


def test_converged_flags_an_attack_that_twice_the_steps_still_lowers():
  base = [_rec("pgd", 8, 15.9)]
  found = _checks(base + [_rec("pgd", 8, 13.6, 40, "more_steps")])
  # 2.3 points lower with twice the steps: more steps "never help" passes
  # (they did not raise it), but the attack had not converged.
  assert found[("more_steps_never_help", "pgd")]["passed"]
  assert not found[("converged", "pgd")]["passed"]
  assert found[("converged", "pgd")]["detail"].endswith(
      "2.30 points lower with twice the steps (at most 1 lower)")
  found = _checks(base + [_rec("pgd", 8, 15.1, 40, "more_steps")])
  assert found[("converged", "pgd")]["passed"]       # 0.8 ≤ 1 point
  found = _checks(base + [_rec("pgd", 8, 17.0, 40, "more_steps")])
  assert not found[("more_steps_never_help", "pgd")]["passed"]
  assert found[("converged", "pgd")]["passed"]


def _patch(variant, domain, hit, n=40, **kw):
  return dict(variant=variant, domain=domain, hit_target=hit, n=n, **kw)


def test_patch_checks_flag_what_understates_the_attack():
  from mdr import patch_eval  # pylint: disable=g-import-not-at-top
  main = _patch("per_image", "image", 30.0, steps=1000, side=5)
  recs = [main, _patch("universal", "image", 10.0),
          _patch("per_image (steps 100)", "image", 20.0, sanity="steps",
                 steps=100, side=5),
          _patch("per_image (steps 300)", "image", 35.0, sanity="steps",
                 steps=300, side=5),
          _patch("per_image (side 3)", "image", 10.0, sanity="side",
                 steps=1000, side=3),
          _patch("per_image (side 7)", "image", 50.0, sanity="side",
                 steps=1000, side=7),
          _patch("per_image", "network", 25.0)]
  found = {c["check"]: c for c in patch_eval.checks(recs)
           if c["domain"] in ("image", "per_image")}
  assert found["per_image_not_below_universal"]["passed"]
  # 35 % at 300 steps, 30 % at 1,000: more steps lost 2 images of 40.
  assert not found["not_falling_with_steps"]["passed"]
  assert found["not_falling_with_steps"]["detail"] == (
      "steps 100: 20.0 %, steps 300: 35.0 %, steps 1000: 30.0 %")
  assert found["not_falling_with_side"]["passed"]
  assert not found["network_not_below_image"]["passed"]   # 25 < 30
  # One image of tolerance: 29 % at 1,000 steps against 30 % at 300 passes.
  recs[3] = dict(recs[3], hit_target=31.0)
  assert {c["check"]: c["passed"] for c in patch_eval.checks(recs)}[
      "not_falling_with_steps"]
