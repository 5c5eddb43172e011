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
