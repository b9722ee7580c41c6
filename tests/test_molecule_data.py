"""Molecular datasets: unit conversions, the QM9 loader against schnetpack's QM9 molecules, QM7,
and the embedded GFN2-xTB labels against tblite and ASE called directly."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from matscibench.families.molecules import data as md
from matscibench.families.molecules import xtb_molecules as xm
from matscibench.sim import units as U
from matscibench.sim import xtb as X

SMALL_XTB = {"n_molecules": 40, "seed": 0}
SMALL_VIB = {"n_molecules": 6, "seed": 0}


# ------------------------------------------------------------------------------- units
def test_unit_constants_agree_with_ase():
    from ase import units

    assert U.HARTREE_IN_EV == pytest.approx(units.Hartree, rel=1e-8)
    assert U.BOHR_IN_ANGSTROM == pytest.approx(units.Bohr, rel=1e-8)
    assert U.KCAL_PER_MOL_IN_EV == pytest.approx(units.kcal / units.mol, rel=1e-8)
    assert U.E_ANGSTROM_IN_DEBYE == pytest.approx(1 / units.Debye, rel=1e-7)
    assert U.INVCM_IN_EV == pytest.approx(units.invcm, rel=1e-7)
    assert U.KB_EV_PER_K == pytest.approx(units.kB, rel=1e-6)  # ASE: CODATA 2014, ours 2018
    # R in cal/(mol K) from k_B and the Faraday constant
    assert U.R_CAL_PER_MOL_K == pytest.approx(U.KB_EV_PER_K * U.EV_PER_K_IN_CAL_PER_MOL_K, rel=1e-7)


def test_unit_factors_agree_with_scipy_codata():
    """Every factor rebuilt from SI constants (scipy.constants: CODATA 2022; ours are CODATA 2018,
    where the Bohr radius differs by 7e-10 relative, 2e-9 in a0³), so a mistyped digit fails."""
    import scipy.constants as C

    pc = C.physical_constants
    a0_m = pc["Bohr radius"][0]
    hartree_eV = pc["Hartree energy in eV"][0]
    debye_Cm = 1e-21 / C.c  # 1 D = 1e-21/c C·m
    expected = {
        ("Ha", "eV"): hartree_eV,
        ("Ha", "meV"): hartree_eV * 1e3,
        ("eV", "meV"): 1e3,
        ("kcal/mol", "eV"): 4184.0 / (C.N_A * C.e),
        ("kcal/mol", "meV"): 4184.0 / (C.N_A * C.e) * 1e3,
        ("bohr", "Å"): a0_m / C.angstrom,
        ("e·a0", "D"): C.e * a0_m / debye_Cm,
        ("e·Å", "D"): C.e * C.angstrom / debye_Cm,
        ("eV/K", "cal/(mol K)"): C.e * C.N_A / C.calorie,
        ("cm⁻¹", "eV"): C.h * C.c * 100.0 / C.e,
        ("cm⁻¹", "meV"): C.h * C.c * 100.0 / C.e * 1e3,
        ("Ha/bohr²", "eV/Å²"): hartree_eV / (a0_m / C.angstrom) ** 2,
        ("a0²", "Å²"): (a0_m / C.angstrom) ** 2,
        ("a0³", "Å³"): (a0_m / C.angstrom) ** 3,
    }
    assert set(U.UNIT_FACTORS) == set(expected)
    for (src, dst), factor in expected.items():
        assert U.convert(1.0, src, dst) == pytest.approx(factor, rel=3e-9), (src, dst)
        assert U.convert(factor, dst, src) == pytest.approx(1.0, rel=3e-9), (dst, src)
    assert U.KB_EV_PER_K == pytest.approx(C.k / C.e, rel=1e-9)
    assert U.R_CAL_PER_MOL_K == pytest.approx(C.R / C.calorie, rel=1e-9)
    # Hartree -> meV on a QM9 value: methane's gap 0.5048 Ha is 13736.3 meV
    assert U.convert(0.5048, "Ha", "meV") == pytest.approx(13736.3, abs=0.05)


def test_bohr_powers_are_not_confused():
    """α is published in a0³ and ⟨R²⟩ in a0² (QM9) and reported so (SchNet, MEGNet, DimeNet):
    the targets are never rescaled, and when asked for Å the power of the Bohr radius is right
    (a0³ = 0.148 Å³, not 0.529 Å³ nor 0.280 Å³)."""
    a0 = 0.529177210903
    assert md.TARGETS["alpha"].unit == md.TARGETS["alpha"].report_unit == "a0³"
    assert md.TARGETS["r2"].unit == md.TARGETS["r2"].report_unit == "a0²"
    assert md.TARGETS["alpha"].scale == 1.0 and md.TARGETS["r2"].scale == 1.0
    assert U.convert(13.21, "a0³", "Å³") == pytest.approx(13.21 * a0**3, rel=1e-12)  # methane's α
    assert U.convert(1.0, "a0³", "Å³") == pytest.approx(0.1481847, abs=1e-7)
    assert U.convert(35.3641, "a0²", "Å²") == pytest.approx(35.3641 * a0**2, rel=1e-12)
    assert U.convert(U.convert(7.0, "a0³", "Å³"), "Å³", "a0³") == pytest.approx(7.0, rel=1e-14)
    # a QM9 file's α and ⟨R²⟩ come out as written
    text = ("5\ngdb 1\t157.7118\t157.70997\t157.70699\t0.\t13.21\t-0.3877\t0.1171\t0.5048\t35.3641\t0.044749"
            "\t-40.47893\t-40.476062\t-40.475117\t-40.498597\t6.469\n"
            "C\t-0.0126981359\t 1.0858041578\t 0.0080009958\t-0.535689\n"
            "H\t 0.002150416\t-0.0060313176\t 0.0019761204\t 0.133921\n"
            "H\t 1.0117308433\t 1.4637511618\t 0.0002765748\t 0.133922\n"
            "H\t-0.540815069\t 1.4475266138\t-0.8766437152\t 0.133923\n"
            "H\t-0.5238136345\t 1.4379326443\t 0.9063972942\t 0.133923\n"
            "1341.307\t1341.3284\t1341.365\t1562.6731\t1562.7453\t3038.3205\t3151.6034\t3151.6788\t3151.7078\n"
            "C\tC\nInChI=1S/CH4/h1H4\tInChI=1S/CH4/h1H4\n")
    rec = md.parse_qm9_xyz(text, "methane.xyz")
    assert rec["alpha"] == 13.21 and rec["r2"] == 35.3641 and rec["cv"] == 6.469 and rec["mu"] == 0.0
    assert rec["gap"] == pytest.approx(0.5048 * 27.211386245988, rel=1e-12)
    assert rec["u0"] == pytest.approx(-40.47893 * 27.211386245988, rel=1e-12)
    assert rec["omega1"] == 3151.7078


def test_convert_both_directions_and_chains():
    assert U.convert(1.0, "Ha", "eV") == U.HARTREE_IN_EV
    assert U.convert(U.HARTREE_IN_EV, "eV", "Ha") == pytest.approx(1.0)
    assert U.convert(0.5048, "Ha", "meV") == pytest.approx(0.5048 * 27211.386245988)
    assert U.convert(1.0, "e·a0", "D") == pytest.approx(U.convert(U.BOHR_IN_ANGSTROM, "e·Å", "D"))
    assert U.convert(np.array([1.0, 2.0]), "kcal/mol", "meV") == pytest.approx([43.3641043, 86.7282086])
    with pytest.raises(KeyError, match="no conversion"):
        U.convert(1.0, "Ha", "D")
    for t in md.TARGETS.values():
        assert t.scale == pytest.approx(U.convert(1.0, t.unit, t.report_unit))


# ------------------------------------------------------------------------------- QM9
def _qm9_rows(shared_data):
    import ase.db

    db = ase.db.connect(str(shared_data / "schnetpack_testdata" / "test_qm9.db"))
    meta = db.metadata["_property_unit_dict"]
    rows = list(db.select())
    return rows, meta


def _fmt(x: float, k: int) -> str:
    # a few values the way the archive writes small numbers (Mathematica's *^ notation)
    if k == 3 and x != 0.0:
        m, e = f"{x:.6e}".split("e")
        return f"{m}*^{int(e)}"
    return f"{x:.6f}"


def write_qm9_xyz(row, index: int) -> str:
    """One molecule in the published format (Ramakrishnan et al. 2014, Table 2)."""
    from ase.data import chemical_symbols

    d = row.data
    keys = ("rotational_constant_A", "rotational_constant_B", "rotational_constant_C", "dipole_moment",
            "isotropic_polarizability", "homo", "lumo", "gap", "electronic_spatial_extent", "zpve", "energy_U0",
            "energy_U", "enthalpy_H", "free_energy", "heat_capacity")
    head = "\t".join(["gdb", str(index)] + [_fmt(float(d[k][0]), i) for i, k in enumerate(keys)])
    n = len(row.numbers)
    lines = [str(n), head]
    for z, p in zip(row.numbers, row.positions):
        lines.append(f"{chemical_symbols[z]}\t{p[0]: .10f}\t{p[1]: .10f}\t{p[2]: .10f}\t 0.000000")
    n_freq = 3 * n - 6 if n > 2 else 1
    lines.append("\t".join(f"{100.0 * (k + 1) + index:.4f}" for k in range(n_freq)))  # synthetic frequencies
    lines.append("C\tC")  # SMILES (not checked)
    lines.append("InChI=1S/X\tInChI=1S/X")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def qm9_archive(shared_data, tmp_path_factory):
    rows, _ = _qm9_rows(shared_data)
    path = tmp_path_factory.mktemp("qm9") / "dsgdb9nsd.xyz.tar.bz2"
    with tarfile.open(path, "w:bz2") as tar:
        for k, row in enumerate(rows, start=1):
            data = write_qm9_xyz(row, k).encode()
            info = tarfile.TarInfo(f"dsgdb9nsd_{k:06d}.xyz")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.realdata
def test_qm9_loader_values_and_units_match_the_db(shared_data, qm9_archive):
    rows, units = _qm9_rows(shared_data)
    assert units["homo"] == "Ha" and units["heat_capacity"] == "cal/mol/K" and units["dipole_moment"] == "D"
    spec = md.Qm9Spec(archive=str(qm9_archive), exclude_uncharacterized=False)
    ds = spec.load()
    assert len(ds) == 20 and ds.input_type == "molecule"
    assert list(ds.ids[:2]) == ["dsgdb9nsd_000001", "dsgdb9nsd_000002"]
    assert ds.units["u0"] == "eV" and ds.units["cv"] == "cal/(mol K)" and ds.units["alpha"] == "a0³"
    ha = 27.211386245988
    pairs = {"homo": ("homo", ha), "lumo": ("lumo", ha), "gap": ("gap", ha), "zpve": ("zpve", ha),
             "u0": ("energy_U0", ha), "u": ("energy_U", ha), "h": ("enthalpy_H", ha), "g": ("free_energy", ha),
             "mu": ("dipole_moment", 1.0), "alpha": ("isotropic_polarizability", 1.0),
             "r2": ("electronic_spatial_extent", 1.0), "cv": ("heat_capacity", 1.0)}
    for k, row in enumerate(rows):
        mol = ds.inputs[k]
        assert list(mol.atomic_numbers) == list(row.numbers)
        np.testing.assert_allclose(mol.cart_coords, row.positions, atol=1e-9)
        for ours, (theirs, factor) in pairs.items():
            assert ds.targets[ours][k] == pytest.approx(float(row.data[theirs][0]) * factor, rel=2e-6, abs=1e-9), ours
        n = len(row.numbers)
        assert ds.targets["omega1"][k] == pytest.approx(100.0 * (3 * n - 6 if n > 2 else 1) + k + 1)
    # methane: gap 0.5048 Ha = 13.736 eV
    assert ds.targets["gap"][0] == pytest.approx(13.7363, abs=1e-3)


@pytest.mark.realdata
def test_qm9_task_reports_mev_and_uses_the_random_split(shared_data, qm9_archive):
    from matscibench.families.registry import get_task

    params = {"dataset_params": {"archive": str(qm9_archive), "exclude_uncharacterized": False}}
    task = get_task("qm9_gap", **params)
    assert task.unit == "meV" and task.n_folds() == 1 and task.target == 43.0
    ds = task.load()
    y = task.y(ds)
    rows, _ = _qm9_rows(shared_data)
    assert y[0] == pytest.approx(float(rows[0].data["gap"][0]) * 27211.386245988, rel=1e-6)
    (train, test), = task.folds(ds)
    assert len(set(train) & set(test)) == 0 and len(train) > len(test) > 0
    from matscibench.families.molecules.task import random_split

    # the published sizes on the full set (uncharacterized removed)
    tr, va, te = random_split(130831, (110000, 10000), 0)
    assert (len(tr), len(va), len(te)) == (110000, 10000, 10831)
    assert get_task("qm9_mu", **params).unit == "D"
    assert get_task("qm9_alpha", **params).unit == "a0³"
    assert get_task("qm9_cv", **params).unit == "cal/(mol K)"


def test_qm9_atomization_energies_hand_worked_and_against_pyg():
    """U0, U, H, G minus the B3LYP energies of the free atoms that QM9 publishes (atomref.txt of
    Ramakrishnan et al. 2014). Methane (gdb 1): U0 = -40.47893 Ha, C -37.846772 Ha, H -0.500273 Ha,
    so U0_atom = -40.47893 + 37.846772 + 4 × 0.500273 = -0.631066 Ha = -17.1722 eV (-396.0 kcal/mol).
    The references agree with PyTorch Geometric's ``atomrefs`` (torch_geometric/datasets/qm9.py,
    in eV: the same Hartree values × 27.21138602, CODATA 2014)."""
    text = ("5\ngdb 1\t157.7118\t157.70997\t157.70699\t0.\t13.21\t-0.3877\t0.1171\t0.5048\t35.3641\t0.044749"
            "\t-40.47893\t-40.476062\t-40.475117\t-40.498597\t6.469\n"
            "C\t-0.0126981359\t 1.0858041578\t 0.0080009958\t-0.535689\n"
            "H\t 0.002150416\t-0.0060313176\t 0.0019761204\t 0.133921\n"
            "H\t 1.0117308433\t 1.4637511618\t 0.0002765748\t 0.133922\n"
            "H\t-0.540815069\t 1.4475266138\t-0.8766437152\t 0.133923\n"
            "H\t-0.5238136345\t 1.4379326443\t 0.9063972942\t 0.133923\n"
            "1341.307\t1341.3284\t1341.365\t1562.6731\t1562.7453\t3038.3205\t3151.6034\t3151.6788\t3151.7078\n"
            "C\tC\nInChI=1S/CH4/h1H4\tInChI=1S/CH4/h1H4\n")
    rec = md.parse_qm9_xyz(text, "methane.xyz")
    ha = 27.211386245988
    assert rec["u0"] == pytest.approx(-40.47893 * ha, rel=1e-12)  # the published total stays
    assert rec["u0_atom"] == pytest.approx(-0.631066 * ha, abs=1e-6)
    assert rec["u0_atom"] == pytest.approx(-17.1722, abs=1e-4)
    assert U.convert(rec["u0_atom"], "eV", "kcal/mol") == pytest.approx(-396.0, abs=0.05)
    assert rec["u_atom"] == pytest.approx((-40.476062 + 37.845355 + 4 * 0.498857) * ha, abs=1e-6)
    assert rec["h_atom"] == pytest.approx((-40.475117 + 37.844411 + 4 * 0.497912) * ha, abs=1e-6)
    assert rec["g_atom"] == pytest.approx((-40.498597 + 37.861317 + 4 * 0.510927) * ha, abs=1e-6)
    from matscibench.errors import DatasetError

    with pytest.raises(DatasetError, match="H, C, N, O, F"):
        md.qm9_atomization_energy(-400.0, [16, 1], "u0")
    qm9 = pytest.importorskip("torch_geometric.datasets.qm9")
    for k, which in zip((7, 8, 9, 10), ("u0", "u", "h", "g")):
        pyg = dict(zip((1, 6, 7, 8, 9), qm9.atomrefs[k]))
        for z, e_ha in md.QM9_ATOM_REFERENCES_HA[which].items():
            # PyG converted with CODATA 2014's 27.21138602 eV/Ha: then they agree to 1e-6 eV
            assert e_ha * 27.21138602 == pytest.approx(pyg[z], abs=1e-6), (which, z)


def test_qm9_tasks_score_atomization_energies_and_dimenets_12_targets():
    from matscibench.families.molecules.data import DIMENET_TARGETS
    from matscibench.families.registry import get_task

    params = {"dataset_params": {"archive": "/nonexistent/qm9.tar.bz2"}}
    for t in ("u0", "u", "h", "g"):
        task = get_task(f"qm9_{t}", **params)
        assert task.target_column == f"{t}_atom" and task.unit == "meV" and task.target == 43.0
    assert get_task("qm9_omega1", **params).target_column == "omega1"
    allt = get_task("qm9_all", **params)
    assert allt.target_names == DIMENET_TARGETS and len(allt.target_names) == 12
    assert allt.metrics[:4] == ("std_mae", "log_mae", "log_mae_raw", "mae_over_mad")


@pytest.mark.realdata
def test_qm9_task_uses_the_atomization_energy_and_the_validation_set(shared_data, qm9_archive):
    from matscibench.families.molecules.task import random_split
    from matscibench.families.registry import get_task

    params = {"dataset_params": {"archive": str(qm9_archive), "exclude_uncharacterized": False}}
    task = get_task("qm9_u0", **params)
    ds = task.load()
    rows, _ = _qm9_rows(shared_data)
    ha = 27.211386245988
    for k in (0, 5, 19):
        zs = rows[k].numbers
        ref = sum(md.QM9_ATOM_REFERENCES_HA["u0"][int(z)] for z in zs)
        assert task.y(ds)[k] == pytest.approx((float(rows[k].data["energy_U0"][0]) - ref) * ha * 1000.0, rel=1e-6)
    _, val, _ = random_split(len(ds), (110_000, 10_000), 0)
    assert list(task.validation_indices(ds, 0)) == list(val) and len(val) >= 1
    (train, test), = task.folds(ds)
    assert not (set(val) & set(train)) and not (set(val) & set(test))


def test_qm9_uncharacterized_are_left_out(shared_data, qm9_archive, tmp_path):
    unc = tmp_path / "uncharacterized.txt"
    unc.write_text("header\n---\n   3  O   O  0.1 0.2 0.3\n  17  CC(O)=O CC=O 1 2 3\n---\n")
    ds = md.Qm9Spec(archive=str(qm9_archive), uncharacterized=str(unc), name="qm9_small").load()
    assert len(ds) == 18
    assert "dsgdb9nsd_000003" not in set(ds.ids) and "dsgdb9nsd_000017" not in set(ds.ids)


def test_qm9_parser_names_the_file_on_bad_input():
    from matscibench.errors import DatasetError

    with pytest.raises(DatasetError, match="broken.xyz"):
        md.parse_qm9_xyz("3\ngdb 1 1.0\n", "broken.xyz")


def test_qm9_without_archive_says_where_to_put_it(monkeypatch):
    from matscibench.errors import DatasetNotAvailable

    monkeypatch.setenv("MATSCIBENCH_OFFLINE", "1")
    spec = md.Qm9Spec(name="qm9_absent")
    assert spec.status() == "download"
    with pytest.raises(DatasetNotAvailable, match="dsgdb9nsd.xyz.tar.bz2"):
        spec.prepare()


# ------------------------------------------------------------------------------- QM7
@pytest.mark.realdata
def test_qm7_loader(shared_data):
    ds = md.Qm7Spec().load()
    assert len(ds) == 7101
    assert ds.ids[0] == "qm7-0001"
    assert sorted(ds.inputs[0].atomic_numbers) == [1, 1, 1, 1, 6]  # methane
    assert ds.targets["atomization_energy"][0] == pytest.approx(-417.031)
    assert ds.targets["atomization_energy_dftb"][0] == pytest.approx(-431.787271961)
    zs = {int(z) for m in ds.inputs[:2000] for z in m.atomic_numbers}
    assert zs <= {1, 6, 7, 8, 16}
    assert max(len(m) for m in ds.inputs) == 23


# ------------------------------------------------------------------------------- xTB set
@pytest.fixture(scope="session")
def xtb_small():
    spec = xm.XtbMoleculesSpec(**SMALL_XTB)
    return spec.load()


@pytest.fixture(scope="session")
def xtb_vib_small():
    spec = xm.XtbMoleculesSpec(vibrations=True, **SMALL_VIB)
    return spec.load()


def test_candidate_stream_is_seeded_and_prefix_stable():
    a = xm.candidate_smiles(0, 60)
    assert a == xm.candidate_smiles(0, 60)
    assert xm.candidate_smiles(0, 20) == a[:20]
    assert len(set(a)) == 60
    assert xm.candidate_smiles(1, 20) != a[:20]
    from rdkit import Chem

    for smi in a:
        mol = Chem.MolFromSmiles(smi)
        assert {at.GetSymbol() for at in mol.GetAtoms()} <= {"C", "N", "O", "F"}
        assert 1 <= mol.GetNumAtoms() <= 9


def test_xtb_dataset_shape_and_reuse(xtb_small):
    ds = xtb_small
    assert len(ds) == SMALL_XTB["n_molecules"]
    assert list(ds.targets.columns) == list(md.XTB_TARGETS)
    assert ds.units["gap"] == "eV" and ds.units["mu"] == "D"
    assert "alpha" not in ds.targets and "r2" not in ds.targets  # xTB cannot give them: absent
    assert np.isfinite(ds.targets.to_numpy()).all()
    assert (ds.targets["gap"] > 0).all() and (ds.targets["lumo"] > ds.targets["homo"]).all()
    np.testing.assert_allclose(ds.targets["gap"], ds.targets["lumo"] - ds.targets["homo"], atol=1e-9)
    # a smaller set is a prefix of a larger one (same chunks, same molecules)
    small = xm.XtbMoleculesSpec(n_molecules=15, seed=0).load()
    assert list(small.ids) == list(ds.ids[:15])
    np.testing.assert_array_equal(small.targets.to_numpy(), ds.targets.to_numpy()[:15])


def test_xtb_labels_match_tblite_called_directly(xtb_small):
    """Energy and dipole through tblite's ASE calculator (ASE's units), orbital energies
    through tblite's API converted with ASE's Hartree: the stored labels must agree."""
    from ase import Atoms, units
    from tblite.ase import TBLite
    from tblite.interface import Calculator

    ds = xtb_small
    for k in (0, 7, 23):
        mol = ds.inputs[k]
        atoms = Atoms(numbers=mol.atomic_numbers, positions=mol.cart_coords)
        atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
        energy = atoms.get_potential_energy()
        mu = np.linalg.norm(atoms.get_dipole_moment()) / units.Debye
        assert ds.targets["energy"][k] == pytest.approx(energy, abs=2e-5), ds.ids[k]
        assert ds.targets["mu"][k] == pytest.approx(mu, abs=1e-4), ds.ids[k]
        # the stored geometry is relaxed
        assert np.abs(atoms.get_forces()).max() < 2 * X.FMAX_ELECTRONIC
        calc = Calculator("GFN2-xTB", atoms.numbers, atoms.positions / units.Bohr)
        calc.set("verbosity", 0)
        res = calc.singlepoint()
        eps, occ = res["orbital-energies"] * units.Hartree, res["orbital-occupations"]
        homo = eps[occ > 1].max()
        lumo = eps[occ < 1].min()
        assert ds.targets["homo"][k] == pytest.approx(homo, abs=1e-5)
        assert ds.targets["lumo"][k] == pytest.approx(lumo, abs=1e-5)


def test_vibrational_labels_are_consistent(xtb_vib_small):
    from ase import units

    ds = xtb_vib_small
    t = ds.targets
    assert list(t.columns) == list(md.XTB_VIB_TARGETS)
    kT = units.kB * X.THERMO_T_K
    np.testing.assert_allclose(t["h"] - t["u"], kT, atol=1e-9)
    np.testing.assert_allclose(t["u0"] - t["energy"], t["zpve"], atol=1e-9)
    assert (t["u"] > t["u0"]).all() and (t["g"] < t["h"]).all()
    assert ((t["omega1"] > 2500) & (t["omega1"] < 4000)).all()  # X-H stretches
    # Cv between the rigid-rotor floor (3R) and 3R + R per vibration
    n_atoms = np.array([len(m) for m in ds.inputs])
    R = U.R_CAL_PER_MOL_K
    assert (t["cv"] >= 2.5 * R).all() and (t["cv"] <= 3 * R + R * (3 * n_atoms - 6)).all()


def test_frequencies_match_ase_vibrations_and_cv_matches_du_dt(tmp_path):
    """Water: our Hessian (tblite API, projected) vs ASE's own Vibrations with the TBLite
    calculator; Cv vs a numerical derivative of ASE's IdealGasThermo internal energy."""
    from ase.build import molecule
    from ase.optimize import BFGS
    from ase.thermochemistry import IdealGasThermo
    from ase.vibrations import Vibrations
    from tblite.ase import TBLite

    atoms = molecule("H2O")
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    BFGS(atoms, logfile=None).run(fmax=1e-4)
    vib = Vibrations(atoms, name=str(tmp_path / "vib"), delta=0.005, nfree=2)
    vib.run()
    ref = np.sort(np.abs(vib.get_frequencies()))[-3:]
    energy = atoms.get_potential_energy()
    bare = atoms.copy()
    labels = X.vibrational_labels(bare, energy)
    H = X.xtb_hessian(bare.numbers, bare.positions)
    from ase.vibrations import VibrationsData

    ours = np.sort(np.abs(VibrationsData.from_2d(bare, H).get_frequencies()))[-3:]
    np.testing.assert_allclose(ours, ref, atol=2.0)  # cm⁻¹
    assert labels["omega1"] == pytest.approx(ref.max(), abs=2.0)
    assert labels["symmetry_number"] == 2
    e_vib = np.sort(np.abs(VibrationsData.from_2d(bare, X.project_rigid_motions(
        H, bare.get_masses(), bare.positions, False)).get_energies()))[-3:]
    assert labels["zpve"] == pytest.approx(0.5 * e_vib.sum(), rel=1e-9)
    thermo = IdealGasThermo(e_vib, "nonlinear", potentialenergy=energy, atoms=bare, symmetrynumber=2, spin=0,
                            vib_selection="all")
    dT = 0.01
    dudt = (thermo.get_internal_energy(298.15 + dT, verbose=False)
            - thermo.get_internal_energy(298.15 - dT, verbose=False)) / (2 * dT)
    assert labels["cv"] == pytest.approx(U.convert(dudt, "eV/K", "cal/(mol K)"), rel=1e-5)
    assert labels["cv"] == pytest.approx(6.0, abs=0.1)  # water vapour: Cv ≈ 3R + a little
