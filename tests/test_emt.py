"""Tests of the embedded EMT alloy dataset (matscibench.sim.emt); ~10 s on 2 cores."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from ase import Atoms
from ase.build import bulk, make_supercell
from ase.calculators.emt import EMT
from pymatgen.core import Structure

from matscibench.sim.emt import (
    EMT_ELEMENTS,
    TARGET_COLUMNS,
    chemical_potentials,
    elemental_references,
    emt_bulk_modulus,
    generate_emt_alloys,
    relax_emt,
)

N = 40
EV_PER_A3_IN_GPA = 160.21766208  # 1 eV/Å³ in GPa, written out so the test does not use ase.units


@pytest.fixture(scope="module")
def data0():
    calls: list[tuple[int, int]] = []
    structures, targets, ids = generate_emt_alloys(
        N, seed=0, workers=1, progress=lambda d, t: calls.append((d, t))
    )
    return structures, targets, ids, calls


def _atoms(s: Structure) -> Atoms:
    """Plain ASE Atoms from a pymatgen Structure (no matscibench code involved)."""
    return Atoms(
        symbols=[sp.symbol for sp in s.species],
        cell=np.array(s.lattice.matrix),
        scaled_positions=np.array(s.frac_coords),
        pbc=True,
    )


def _arrays(structures, targets, ids):
    return (
        [np.array(s.lattice.matrix) for s in structures],
        [np.array(s.frac_coords) for s in structures],
        [list(s.atomic_numbers) for s in structures],
        targets,
        list(ids),
    )


def _assert_identical(a, b) -> None:
    la, fa, za, ta, ia = _arrays(*a)
    lb, fb, zb, tb, ib = _arrays(*b)
    assert ia == ib
    assert za == zb
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(fa, fb):
        np.testing.assert_array_equal(x, y)
    pd.testing.assert_frame_equal(ta, tb, check_exact=True)


def test_shapes_columns_ids(data0):
    structures, targets, ids, _ = data0
    assert len(structures) == len(targets) == len(ids) == N
    assert list(targets.columns) == list(TARGET_COLUMNS)
    assert len(set(ids)) == N
    assert all(re.fullmatch(r"emt-\d{6}", i) for i in ids)
    assert set(targets["lattice_type"]) <= {"fcc", "bcc", "hcp"}
    assert targets["is_stable"].dtype == bool
    e_form = targets["formation_energy_per_atom"].to_numpy()
    np.testing.assert_array_equal(targets["is_stable"].to_numpy(), e_form < 0)
    for s, n_el in zip(structures, targets["n_elements"]):
        assert isinstance(s, Structure) and s.is_ordered
        assert 1 <= len(s) <= 8
        assert {el.symbol for el in s.composition.elements} <= set(EMT_ELEMENTS)
        assert len(s.composition.elements) == n_el
    assert np.all(np.isfinite(targets.select_dtypes("number").to_numpy(dtype=float)))
    assert (targets["bulk_modulus"] > 0).all()
    assert targets["formation_energy_per_atom"].abs().max() < 1.0
    np.testing.assert_allclose(
        targets["volume_per_atom"], [s.volume / len(s) for s in structures], rtol=1e-10
    )


def test_generation_bookkeeping(data0):
    _, targets, _, calls = data0
    gen = targets.attrs["generation"]
    assert gen["candidates_tried"] == N + gen["duplicates"] + sum(gen["rejected"].values())
    assert calls and calls[-1] == (N, N)
    done = [d for d, _ in calls]
    assert done == sorted(done) and all(t == N for _, t in calls)


def test_reproducible_and_independent_of_workers(data0):
    structures, targets, ids, _ = data0
    again = generate_emt_alloys(N, seed=0, workers=2)
    _assert_identical((structures, targets, ids), again)
    short = generate_emt_alloys(10, seed=0, workers=1)  # a prefix of the same stream
    _assert_identical((structures[:10], targets.iloc[:10], ids[:10]), short)


def test_different_seed_differs(data0):
    _, targets, _, _ = data0
    _, other, _ = generate_emt_alloys(N, seed=1, workers=1)
    assert not np.allclose(other["energy_per_atom"].to_numpy(), targets["energy_per_atom"].to_numpy())


def test_no_short_distances(data0):
    structures, *_ = data0
    for s in structures:
        # all neighbours within 1.5 Å, periodic images of the site itself included
        assert all(len(nb) == 0 for nb in s.get_all_neighbors(1.5))


def test_independent_recomputation(data0):
    structures, targets, _, _ = data0
    mu = chemical_potentials()
    # the first ternary (or, failing that, the first multi-element) structure
    order = np.argsort(-targets["n_elements"].to_numpy(), kind="stable")
    k = int(order[0])
    s, row = structures[k], targets.iloc[k]
    atoms = _atoms(s)
    atoms.calc = EMT()  # ASE's own EMT, not the dataset's faster copy
    n = len(atoms)
    e = atoms.get_potential_energy() / n
    assert abs(e - row["energy_per_atom"]) < 1e-6
    e_form = (atoms.get_potential_energy() - sum(mu[sym] for sym in atoms.get_chemical_symbols())) / n
    assert abs(e_form - row["formation_energy_per_atom"]) < 1e-6
    # it is relaxed: small forces and stress (virial per atom, eV)
    assert np.abs(atoms.get_forces()).max() < 0.05
    assert np.abs(atoms.get_stress(voigt=False)).max() * atoms.get_volume() / n < 0.05


def test_every_structure_energy_matches_plain_emt(data0):
    structures, targets, _, _ = data0
    for s, e in zip(structures[:15], targets["energy_per_atom"][:15]):
        atoms = _atoms(s)
        atoms.calc = EMT()
        assert abs(atoms.get_potential_energy() / len(atoms) - e) < 1e-6


@pytest.mark.parametrize("element", EMT_ELEMENTS)
def test_pure_element_formation_energy_is_zero(element):
    mu = chemical_potentials()
    refs = [r for r in elemental_references() if r.element == element]
    best = min(refs, key=lambda r: r.energy_per_atom)
    assert best.energy_per_atom == mu[element]
    # a supercell of the lowest-energy lattice, started 6 % off in volume, relaxed the same way
    v = best.volume_per_atom
    if best.lattice == "hcp":
        a = (4 * v) ** (1 / 3) / np.sqrt(2)  # ideal c/a: same volume per atom as fcc with a*sqrt(2)
        atoms = make_supercell(bulk(element, "hcp", a=a, c=a * np.sqrt(8 / 3)), np.diag([2, 1, 1]))
    elif best.lattice == "fcc":
        atoms = make_supercell(bulk(element, "fcc", a=(4 * v) ** (1 / 3)), np.diag([2, 2, 1]))
    else:
        atoms = make_supercell(bulk(element, "bcc", a=(2 * v) ** (1 / 3)), np.diag([2, 2, 1]))
    assert abs(atoms.get_volume() / len(atoms) - v) < 1e-6 * v
    atoms.set_cell(atoms.cell * 1.02, scale_atoms=True)
    assert relax_emt(atoms)
    atoms.calc = EMT()
    e_form = atoms.get_potential_energy() / len(atoms) - mu[element]
    assert abs(e_form) < 1e-3


def test_elemental_references_and_unary_entries(data0):
    structures, targets, _, _ = data0
    mu = chemical_potentials()
    lowest = {}
    for r in elemental_references():
        assert r.converged
        assert 0.0 <= r.energy_per_atom - mu[r.element] < 0.1
        if r.energy_per_atom == mu[r.element]:
            lowest[r.element] = r.lattice
    assert set(lowest) == set(EMT_ELEMENTS)
    for s, (_, row) in zip(structures, targets.iterrows()):
        if row["n_elements"] != 1:
            continue
        el = s.composition.elements[0].symbol
        if row["lattice_type"] == lowest[el]:
            assert abs(row["formation_energy_per_atom"]) < 1e-3
        else:
            assert -1e-3 < row["formation_energy_per_atom"] < 0.1


def _parabola_bulk_modulus(element: str, lattice_a: float) -> tuple[float, float]:
    """(B in GPa, V0 in Å³/atom) of fcc ``element`` from a parabola fit of plain-EMT E(V)."""

    def energies(volumes: np.ndarray) -> np.ndarray:
        out = []
        for v in volumes:
            at = bulk(element, "fcc", a=(4 * v) ** (1 / 3))
            at.calc = EMT()
            out.append(at.get_potential_energy())
        return np.array(out)

    v_guess = lattice_a**3 / 4
    vols = v_guess * np.linspace(0.94, 1.06, 13)  # coarse: locate the minimum
    c2, c1, _ = np.polyfit(vols, energies(vols), 2)
    v0 = -c1 / (2 * c2)
    vols = v0 * np.linspace(0.99, 1.01, 9)  # fine: curvature at the minimum
    c2, c1, _ = np.polyfit(vols, energies(vols), 2)
    v0 = -c1 / (2 * c2)
    return v0 * 2 * c2 * EV_PER_A3_IN_GPA, v0


def test_bulk_modulus_of_fcc_cu_matches_independent_fit():
    b_ref, v0 = _parabola_bulk_modulus("Cu", 3.61)
    atoms = bulk("Cu", "fcc", a=3.61)
    assert relax_emt(atoms)
    assert abs(atoms.get_volume() - v0) / v0 < 2e-3
    b_dataset = emt_bulk_modulus(atoms)
    assert abs(b_dataset - b_ref) / b_ref < 0.05
    cu_fcc = next(r for r in elemental_references() if r.element == "Cu" and r.lattice == "fcc")
    assert abs(cu_fcc.bulk_modulus - b_ref) / b_ref < 0.05
    assert 100 < b_ref < 170  # EMT Cu: ~134 GPa (experiment ~140)


def test_no_duplicates_by_the_dedup_rule(data0):
    structures, targets, _, _ = data0
    keys = [s.composition.reduced_formula for s in structures]
    for i in range(len(structures)):
        for j in range(i):
            if keys[i] == keys[j] and targets["lattice_type"].iloc[i] == targets["lattice_type"].iloc[j]:
                same_e = abs(targets["energy_per_atom"].iloc[i] - targets["energy_per_atom"].iloc[j]) <= 1e-6
                same_v = abs(targets["volume_per_atom"].iloc[i] - targets["volume_per_atom"].iloc[j]) <= 1e-4
                assert not (same_e and same_v)
