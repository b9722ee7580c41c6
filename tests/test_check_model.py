"""``matscibench.testing.check_model``: every registered model passes its family's contract, and
the checks catch models that break it."""

from __future__ import annotations

import numpy as np
import pytest

from matscibench.families.registry import build_model, list_models
from matscibench.testing import ContractError, check_model

# predictions_file (family "any") has no contract of its own: it takes each task's family's; its
# tests are in test_predictions_file.py
MODELS = sorted(name for name, entry in list_models().items() if entry.family != "any")


@pytest.mark.parametrize("name", MODELS)
def test_registered_model_passes_its_contract(name):
    try:
        build_model(name)
    except (ImportError, FileNotFoundError) as exc:  # an optional package or weights file absent here
        pytest.skip(f"{name} cannot be built here (optional package or weights file): {exc}")
    passed = check_model(name)
    assert len(passed) >= 8


@pytest.mark.parametrize("factory", ["NaNModel", "WrongLengthModel", "RaisingModel"])
def test_broken_property_models_fail(factory):
    from matscibench.models import faulty

    with pytest.raises(ContractError) as err:
        check_model(getattr(faulty, factory)(), "properties")
    assert "properties contract" in str(err.value)


def test_forces_that_are_not_the_gradient_fail():
    from ase.calculators.calculator import Calculator, all_changes

    class WrongForces(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            x = self.atoms.positions
            self.results = {"energy": float(np.sum(x ** 2)), "forces": +2 * x}  # sign wrong

    with pytest.raises(ContractError, match="-dE/dx"):
        check_model(WrongForces(), "potentials")


def test_generator_that_ignores_the_seed_fails():
    class Unseeded:
        def fit(self, structures):
            self.s = list(structures)
            return self

        def sample(self, n, seed=0):
            rng = np.random.default_rng()
            out = []
            for _ in range(n):
                s = self.s[0].copy()
                s.perturb(0.1 * rng.random())
                out.append(s)
            return out

    with pytest.raises(ContractError, match="same seed, same samples"):
        check_model(Unseeded(), "generation")


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="family must be one of"):
        check_model(object(), "nonsense")
