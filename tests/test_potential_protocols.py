"""Potentials: stress conventions on load, the BOTNet/MACE test sets, rMD17's published splits."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from ase import Atoms
from ase.io import write

from matscibench.families.potentials.files import read_extxyz, stress_to_ase
from matscibench.errors import DatasetError, DatasetNotAvailable
from matscibench.families.registry import get_task


def _cell_with_stress(stress, **info) -> Atoms:
    at = Atoms("Cu", positions=[[0, 0, 0]], cell=np.eye(3) * 2.5, pbc=True)
    at.info.update({"energy": -3.0, "stress": np.asarray(stress, float), **info})
    at.arrays["forces"] = np.zeros((1, 3))
    return at


def test_vasp_kbar_stress_is_converted_as_ase_reads_vasp(tmp_path):
    """VASP sign and kBar -> ASE sign and eV/Å³: the same numbers as ASE's own OUTCAR reader
    (ase 3.29.0, ase/io/vasp_parsers/vasp_outcar_parsers.py, convert_vasp_outcar_stress:
    ``-stress[[0, 1, 2, 4, 5, 3]] * 1e-1 * GPa`` on VASP's XX YY ZZ XY YZ ZX line)."""
    from ase.io.vasp_parsers.vasp_outcar_parsers import convert_vasp_outcar_stress

    xx, yy, zz, xy, yz, zx = 10.0, -20.0, 30.0, 1.0, 2.0, 3.0  # kBar, VASP sign
    tensor = np.array([[xx, xy, zx], [xy, yy, yz], [zx, yz, zz]])
    expected = convert_vasp_outcar_stress([xx, yy, zz, xy, yz, zx])
    np.testing.assert_allclose(stress_to_ase(tensor, "vasp_kbar"), expected, rtol=1e-12)
    # hand-worked: 10 kBar of VASP (compressive) is -1 GPa in ASE's sign = -1/160.21766 eV/Å³
    assert stress_to_ase(tensor, "vasp_kbar")[0] == pytest.approx(-1.0 / 160.21766208, rel=1e-6)
    np.testing.assert_allclose(stress_to_ase(tensor, "ase"), [xx, yy, zz, yz, zx, xy])

    path = tmp_path / "vasp.xyz"
    write(path, [_cell_with_stress(tensor)], format="extxyz")
    (fr,) = read_extxyz(path, stress_convention="vasp_kbar")
    np.testing.assert_allclose(fr.info["stress"], expected, rtol=1e-9)
    # declared on the frame's comment line instead of by argument
    path2 = tmp_path / "declared.xyz"
    write(path2, [_cell_with_stress(tensor, stress_convention="vasp_kbar")], format="extxyz")
    (fr2,) = read_extxyz(path2)
    np.testing.assert_allclose(fr2.info["stress"], expected, rtol=1e-9)


def test_a_file_that_does_not_declare_its_stress_is_refused(tmp_path):
    path = tmp_path / "silent.xyz"
    write(path, [_cell_with_stress(np.eye(3) * 0.01)], format="extxyz")
    with pytest.raises(DatasetError, match="silent.xyz.*stress_convention"):
        read_extxyz(path)
    with pytest.raises(DatasetError, match="known"):
        write(path, [_cell_with_stress(np.eye(3), stress_convention="gpa")], format="extxyz")
        read_extxyz(path)


def test_energy_only_frames_score_energies_and_leave_forces_nan():
    t = get_task("botnet_acac_dihedral")
    assert t.primary_metric == "energy_mae_per_structure"
    pred = pd.DataFrame({"n_atoms": [15, 15], "energy_true": [-10.0, -11.0], "energy_pred": [-10.02, -10.99],
                         "forces_true": [None, None], "forces_pred": [[0.0] * 45, [0.0] * 45]})
    m = t.score_frames(pred)
    assert m["energy_mae_per_structure"] == pytest.approx(15.0)  # (20 + 10) / 2 meV
    assert m["energy_mae_per_atom"] == pytest.approx(1.0)
    assert np.isnan(m["force_mae"]) and np.isnan(m["sciml_force_angle_mae"])


@pytest.mark.slow
def test_botnet_protocols_report_each_test_set_apart(shared_data):
    """BOTNet-datasets (davkovacs/BOTNet-datasets@29e6d46): acac trains at 300 K and tests at 300 K,
    600 K, on the dihedral scan (45 frames) and the H-transfer path (15), energies only for the last
    two; ethanol's H-removal path has 60 frames."""
    sizes = {}
    for name in ("botnet_acac_300K", "botnet_acac_600K", "botnet_acac_dihedral", "botnet_acac_h_transfer",
                 "botnet_ethanol", "botnet_ethanol_h_removal"):
        t = get_task(name)
        ds = t.spec.load()
        (train, test), = t.folds(ds)
        assert len(set(ds.groups[test])) == 1
        sizes[name] = (len(train), len(test), "forces" in ds.frames[test[0]].arrays)
    assert sizes["botnet_acac_300K"] == (500, 650, True) and sizes["botnet_acac_600K"] == (500, 650, True)
    assert sizes["botnet_acac_dihedral"] == (500, 45, False) and sizes["botnet_acac_h_transfer"] == (500, 15, False)
    assert sizes["botnet_ethanol"] == (1000, 1000, True) and sizes["botnet_ethanol_h_removal"] == (1000, 60, False)
    assert get_task("botnet_acac_300K").primary_metric == "force_mae"
    assert get_task("botnet_acac_300K").metrics[1] == "energy_mae_per_structure"


def test_3bpa_without_its_test_sets_says_where_to_get_them(shared_data):
    t = get_task("botnet_3bpa_600K")
    with pytest.raises(DatasetNotAvailable, match="Kovács"):
        t.spec.load()
    from matscibench.families.registry import get_dataset

    train = get_dataset("botnet_3bpa", with_tests=False).load()
    assert sorted(set(train.groups)) == ["train_300K", "train_mixedT"] and len(train) == 1000


def test_rmd17_uses_the_published_index_files(tmp_path, monkeypatch):
    """rMD17's splits/index_{train,test}_0k.csv, read as schnetpack reads them
    (schnetpack src/schnetpack/datasets/rmd17.py: np.loadtxt(...).flatten().astype(int))."""
    root = tmp_path / "data"
    (root / "rmd17" / "npz_data").mkdir(parents=True)
    (root / "rmd17" / "splits").mkdir()
    n = 30
    rng = np.random.default_rng(0)
    np.savez(root / "rmd17" / "npz_data" / "rmd17_ethanol.npz", nuclear_charges=np.array([6, 6, 8]),
             coords=rng.normal(size=(n, 3, 3)), energies=rng.normal(size=n), forces=rng.normal(size=(n, 3, 3)))
    monkeypatch.setenv("MATSCIBENCH_DATA", str(root))
    monkeypatch.setenv("MATSCIBENCH_CACHE", str(tmp_path / "cache"))
    t = get_task("rmd17_ethanol", fallback_sizes=(10, 10))
    ds = t.spec.load()
    folds = t.folds(ds)  # no index files yet: seeded random draws, said so
    assert t.n_folds() == 5 and len(folds) == 5 and "random 10/10" in t.split_source
    assert all(len(tr) == 10 and len(te) == 10 and not set(tr) & set(te) for tr, te in folds)
    for k in range(1, 6):
        np.savetxt(root / "rmd17" / "splits" / f"index_train_0{k}.csv", np.arange(k, k + 5), fmt="%d")
        np.savetxt(root / "rmd17" / "splits" / f"index_test_0{k}.csv", np.arange(20, 20 + k), fmt="%d")
    folds = t.folds(ds)
    assert "index files" in t.split_source
    np.testing.assert_array_equal(folds[2][0], [3, 4, 5, 6, 7])
    np.testing.assert_array_equal(folds[2][1], [20, 21, 22])
    assert os.environ["MATSCIBENCH_DATA"] == str(root)


def test_eos_relaxes_each_calculator_first():
    """MLIP Arena's EOS (atomind-ai/mlip-arena commit f649ffeb789d8cd2af7e47ceab396dc5f3e36332,
    mlip_arena/tasks/eos.py): relax the cell, then E(V) with atoms relaxed at each volume. From a
    cell strained by +5 % and rattled, the fitted V0 must be EMT's equilibrium volume, found here
    independently by a fine scan of the perfect fcc lattice constant."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from scipy.optimize import minimize_scalar

    from matscibench.families.potentials import metrics as PM
    from matscibench.families.potentials.data import AtomsDataset
    from matscibench.families.potentials.task import PotentialTask

    def e_of_a(a):
        at = bulk("Cu", "fcc", a=a, cubic=True)
        at.calc = EMT()
        return at.get_potential_energy()

    a0 = minimize_scalar(e_of_a, bounds=(3.4, 3.8), method="bounded", options={"xatol": 1e-6}).x
    v0_per_atom = a0**3 / 4
    start = bulk("Cu", "fcc", a=a0 * 1.05 ** (1 / 3), cubic=True)
    start.rattle(0.05, seed=1)
    start.info.update({"group": "md_300K", "system": "Cu", "energy": 0.0})
    t = PotentialTask("t", "emt_metals", reference="emt", eos=True)
    (row,) = t._run_eos(EMT(), EMT(), AtomsDataset("x", [start], "", "", "emt"))
    assert len(row["eos_volumes"]) == 11
    v, _, _ = PM.birch_murnaghan_fit(row["eos_volumes"], row["eos_e_model"])
    assert v / len(start) == pytest.approx(v0_per_atom, rel=2e-3)
    # the unrelaxed snapshot would have put V0 elsewhere: the strained cell's own volume is 5 % off
    assert abs(start.get_volume() / len(start) / v0_per_atom - 1) > 0.04
