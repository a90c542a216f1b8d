"""datagen's Gaussian accountant against Google's dp-accounting, which cannot share datagen's
environment (it pins attrs<24): ``tox -e dp-accounting`` runs this file alone, with dp-accounting
installed and datagen's accounting module loaded by path (it imports only the standard library)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

dp_accounting = pytest.importorskip("dp_accounting")
from dp_accounting import pld  # noqa: E402

PATH = Path(__file__).resolve().parents[2] / "datagen" / "_kernel" / "accounting.py"
spec = importlib.util.spec_from_file_location("datagen_accounting", PATH)
assert spec is not None and spec.loader is not None
accounting = importlib.util.module_from_spec(spec)
sys.modules["datagen_accounting"] = accounting
spec.loader.exec_module(accounting)


@pytest.mark.parametrize("sigma", [0.8, 1.0, 2.0, 5.0, 10.0, 25.0])
@pytest.mark.parametrize("steps", [1, 3, 10, 50])
@pytest.mark.parametrize("delta", [1e-3, 1e-5, 1e-7])
def test_epsilon_equals_the_pld_accountants(sigma: float, steps: int, delta: float) -> None:
    reference = pld.PLDAccountant()
    reference.compose(dp_accounting.GaussianDpEvent(sigma), steps)
    expected = reference.get_epsilon(delta)
    assert accounting.epsilon_for(sigma, steps, delta) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("epsilon", "steps"), [(0.5, 1), (1.0, 3), (4.0, 10), (8.0, 2)])
def test_the_noise_for_a_budget_spends_that_budget_by_the_pld_accountant(epsilon: float, steps: int) -> None:
    sigma = accounting.noise_multiplier_for(epsilon, 1e-5, steps)
    reference = pld.PLDAccountant()
    reference.compose(dp_accounting.GaussianDpEvent(sigma), steps)
    assert reference.get_epsilon(1e-5) == pytest.approx(epsilon, abs=1e-6)
