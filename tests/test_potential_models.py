"""The potentials' models: ASE calculator contract, forces and stress against finite differences,
fitting on EMT molecular dynamics, reproducibility, epochs, NVE energy conservation, adapters."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk, molecule

from matscibench.families.potentials.models import adapters
from matscibench.families.potentials.models.common import element_index
from matscibench.families.potentials.models.linear_ace import LinearACEPotential
from matscibench.families.potentials.models.schnet import SchNetPotential

VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One torch thread in this module: on a shared 2-core machine two threads spinning against
    other processes made training steps 5-20x slower (the models never set threads themselves)."""
    if importlib.util.find_spec("torch") is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _needs_pyg() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("torch_geometric", reason="SchNetPotential needs torch_geometric (pip install torch_geometric)")


# ----------------------------------------------------------------------------- data
def _label(atoms: Atoms, calc) -> Atoms:
    a = atoms.copy()
    a.calc = calc
    out = Atoms(numbers=a.numbers, positions=a.positions, cell=a.cell, pbc=a.pbc)
    out.info["energy"] = float(a.get_potential_energy())
    out.arrays["forces"] = np.array(a.get_forces())
    if a.pbc.all():
        out.info["stress"] = np.array(a.get_stress(voigt=True))
    return out


@pytest.fixture(scope="module")
def alloy_frames() -> list[Atoms]:
    """Langevin MD with EMT of a 32-atom Cu/Au/Ni fcc cell at 300, 600 and 900 K: 180 frames."""
    from ase.md.langevin import Langevin

    from matscibench.sim.emt import FastEMT
    from matscibench.families.potentials.data import thermalize

    rng = np.random.default_rng(7)
    start = bulk("Cu", "fcc", a=3.68, cubic=True).repeat((2, 2, 2))
    start.set_chemical_symbols(rng.choice(["Cu", "Au", "Ni"], len(start)).tolist())
    frames = []
    for T in (300.0, 600.0, 900.0):
        at = start.copy()
        at.calc = FastEMT()
        thermalize(at, T, rng)
        dyn = Langevin(at, 2.0 * units.fs, temperature_K=T, friction=0.02 / units.fs, rng=rng, fixcm=False)
        dyn.run(40)
        for _ in range(60):
            dyn.run(5)
            fr = Atoms(numbers=at.numbers, positions=at.positions, cell=at.cell, pbc=True)
            fr.info["energy"] = float(at.get_potential_energy())
            fr.arrays["forces"] = np.array(at.get_forces())
            fr.info["stress"] = np.array(at.get_stress(voigt=True))
            frames.append(fr)
    return frames


@pytest.fixture(scope="module")
def split(alloy_frames):
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(alloy_frames))
    return [alloy_frames[k] for k in perm[:150]], [alloy_frames[k] for k in perm[150:]]


@pytest.fixture(scope="module")
def molecule_frames() -> list[Atoms]:
    """Rattled ethanol (non-periodic) labelled with ASE's EMT (it has H, C, O parameters)."""
    from ase.calculators.emt import EMT

    base = molecule("CH3CH2OH")
    rng = np.random.default_rng(3)
    out = []
    for _ in range(40):
        a = base.copy()
        a.positions += rng.normal(0.0, 0.06, a.positions.shape)
        out.append(_label(a, EMT()))
    return out


@pytest.fixture(scope="module")
def linear(split) -> LinearACEPotential:
    return LinearACEPotential().fit(split[0])


@pytest.fixture(scope="module")
def schnet(split) -> SchNetPotential:
    """The default network, briefly trained (3 epochs on 100 frames)."""
    _needs_pyg()
    m = SchNetPotential(max_epochs=3, random_state=0)
    return m.fit(split[0][:100])


def _rattled_alloy(seed: int = 5) -> Atoms:
    rng = np.random.default_rng(seed)
    at = bulk("Cu", "fcc", a=3.68, cubic=True).repeat((2, 2, 2))
    at.set_chemical_symbols(rng.choice(["Cu", "Au", "Ni"], len(at)).tolist())
    at.positions += rng.normal(0.0, 0.08, at.positions.shape)
    # a non-orthogonal cell, so that shear stress and shifted images are exercised
    at.set_cell(at.cell.array @ np.array([[1.0, 0.03, 0.0], [0.0, 1.0, -0.02], [0.01, 0.0, 1.0]]), scale_atoms=True)
    return at


def _fd_forces(calc, atoms: Atoms, idx, h: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    a = atoms.copy()
    a.calc = calc
    F = a.get_forces()
    fd, an = [], []
    for k in idx:
        for c in range(3):
            p = a.positions.copy()
            p[k, c] += h
            a.positions = p
            ep = a.get_potential_energy()
            p[k, c] -= 2 * h
            a.positions = p
            em = a.get_potential_energy()
            p[k, c] += h
            a.positions = p
            fd.append(-(ep - em) / (2 * h))
            an.append(F[k, c])
    return np.array(an), np.array(fd)


def _fd_stress(calc, atoms: Atoms, h: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    a = atoms.copy()
    a.calc = calc
    s = a.get_stress(voigt=True)
    cell0 = a.cell.array.copy()
    V = a.get_volume()
    fd = []
    for x, y in VOIGT:

        def energy(e: float) -> float:
            eps = np.zeros((3, 3))
            eps[x, y] += e / 2
            eps[y, x] += e / 2
            b = a.copy()
            b.set_cell(cell0 @ (np.eye(3) + eps), scale_atoms=True)
            b.calc = calc
            return b.get_potential_energy()

        fd.append((energy(h) - energy(-h)) / (2 * h) / V)
    return np.asarray(s), np.array(fd)


def _force_mae(calc, frames) -> tuple[float, float]:
    """(model force MAE, force MAD of the data) in meV/Å."""
    ft, fp = [], []
    for fr in frames:
        a = Atoms(numbers=fr.numbers, positions=fr.positions, cell=fr.cell, pbc=fr.pbc)
        a.calc = calc
        fp.append(a.get_forces().ravel())
        ft.append(fr.arrays["forces"].ravel())
    ft, fp = np.concatenate(ft), np.concatenate(fp)
    return 1e3 * float(np.mean(np.abs(fp - ft))), 1e3 * float(np.mean(np.abs(ft - ft.mean())))


class _Epochs:
    """A stand-in for the harness's EpochCallback: score in meV/Å, optional stop."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.calls: list[tuple[int, float]] = []
        self.stop_at = stop_at

    def score(self, f_true, f_pred) -> float:
        return 1e3 * float(np.mean(np.abs(np.asarray(f_pred) - np.asarray(f_true))))

    def __call__(self, epoch: int, value: float) -> bool:
        self.calls.append((epoch, value))
        return self.stop_at is not None and epoch >= self.stop_at


# ----------------------------------------------------------------------------- references
def test_emt_reference_matches_ase_emt():
    from ase.calculators.emt import EMT

    ref = adapters.EMTReference()
    assert ref.reference_name == "emt"
    assert {"Cu", "Au", "Ni", "Al", "Pt"} <= ref.supported_elements
    for at in (_rattled_alloy(), molecule("CH3CH2OH")):
        a, b = at.copy(), at.copy()
        a.calc, b.calc = ref, EMT()
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-10)
        if at.pbc.all():
            np.testing.assert_allclose(a.get_stress(), b.get_stress(), atol=1e-12)
    assert ref.fit([]) is ref


def test_xtb_reference_molecule_and_periodic_cell():
    pytest.importorskip("tblite")
    from tblite.ase import TBLite

    ref = adapters.XTBReference()
    assert ref.reference_name == "gfn2-xtb" and ref.periodic_ok
    assert {"H", "C", "O", "Si", "Cu"} <= ref.supported_elements
    mol = molecule("CH3CH2OH")
    a, b = mol.copy(), mol.copy()
    a.calc, b.calc = ref, TBLite(method="GFN2-xTB", verbosity=0)
    assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-8)
    np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-8)
    si = bulk("Si", "diamond", a=5.43)
    si.calc = ref
    assert np.isfinite(si.get_potential_energy()) and si.get_stress().shape == (6,)


# ----------------------------------------------------------------------------- contract
@pytest.mark.parametrize("which", ["emt", "linear", "schnet"])
def test_calculator_caches_and_recomputes(which, request):
    calc = adapters.EMTReference() if which == "emt" else request.getfixturevalue(which)
    calls = []
    original = calc.calculate

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    calc.calculate = counting
    try:
        at = _rattled_alloy(11)
        at.calc = calc
        e1 = at.get_potential_energy()
        f1 = at.get_forces().copy()
        assert at.get_potential_energy() == e1
        assert len(calls) == 1, "energy and forces come from one calculation and are cached"
        at.positions[3] += [0.05, -0.02, 0.01]
        f2 = at.get_forces()
        assert len(calls) == 2
        assert not np.allclose(f1, f2)
        assert f1.shape == (len(at), 3)
        # stress is defined for periodic cells only
        mol = molecule("CH3CH2OH") if which == "emt" else Atoms("CuAu", positions=[[0, 0, 0], [0, 0, 2.5]])
        mol.calc = calc
        mol.get_forces()
        from ase.calculators.calculator import PropertyNotImplementedError

        with pytest.raises(PropertyNotImplementedError):
            mol.get_stress()
    finally:
        del calc.calculate


# ----------------------------------------------------------------------------- derivatives
def test_linear_forces_and_stress_match_finite_differences(linear, molecule_frames):
    an, fd = _fd_forces(linear, _rattled_alloy(), [0, 7, 19])
    np.testing.assert_allclose(an, fd, atol=1e-6)
    s, sfd = _fd_stress(linear, _rattled_alloy())
    np.testing.assert_allclose(s, sfd, atol=1e-8)
    mol_model = LinearACEPotential().fit(molecule_frames[:30])
    an, fd = _fd_forces(mol_model, molecule_frames[35], range(9))
    np.testing.assert_allclose(an, fd, atol=1e-5)


def test_schnet_forces_and_stress_match_finite_differences(schnet, molecule_frames):
    import copy

    m64 = copy.deepcopy(schnet).set_params(dtype="float64")
    an, fd = _fd_forces(m64, _rattled_alloy(), [0, 7, 19], h=1e-5)
    np.testing.assert_allclose(an, fd, atol=1e-6)
    s, sfd = _fd_stress(m64, _rattled_alloy(), h=1e-6)
    np.testing.assert_allclose(s, sfd, atol=1e-8)
    # float32 (the default) agrees with float64 to its precision
    a = _rattled_alloy()
    a.calc = schnet
    f32 = a.get_forces()
    b = _rattled_alloy()
    b.calc = m64
    np.testing.assert_allclose(f32, b.get_forces(), atol=2e-4)
    mol_model = SchNetPotential(max_epochs=1, dtype="float64", random_state=1).fit(molecule_frames[:30])
    an, fd = _fd_forces(mol_model, molecule_frames[35], range(9), h=1e-5)
    np.testing.assert_allclose(an, fd, atol=1e-6)


def test_design_rows_reproduce_the_calculator(linear):
    """The fitted weights applied to the least-squares rows give the calculator's E, F and stress."""
    at = _rattled_alloy(2)
    z = element_index(at.numbers, linear.elements_, "test")
    x_e, X_f, X_s = linear._design(at, z, True)
    w = linear.coef_.ravel()
    at.calc = linear
    assert x_e @ w == pytest.approx(at.get_potential_energy(), abs=1e-9)
    np.testing.assert_allclose(X_f @ w, at.get_forces().ravel(), atol=1e-10)
    np.testing.assert_allclose(X_s @ w, at.get_stress(), atol=1e-12)


def test_linear_many_elements_use_compressed_channels():
    """With more than three elements the 3-body moments use 3 chemical channels (size stays bounded)."""
    from matscibench.sim.emt import FastEMT

    rng = np.random.default_rng(4)
    frames = []
    for _ in range(12):
        at = bulk("Cu", "fcc", a=3.85, cubic=True).repeat((2, 1, 1))
        at.set_chemical_symbols(rng.choice(["Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt"], len(at)).tolist())
        at.positions += rng.normal(0, 0.05, at.positions.shape)
        frames.append(_label(at, FastEMT()))
    m = LinearACEPotential().fit(frames)
    assert m.channels_.shape == (len(m.elements_), 3)
    sz = m._sizes()
    assert m.n_features_ == len(m.elements_) * sz["F"] < 5000
    an, fd = _fd_forces(m, frames[0], [0, 3])
    np.testing.assert_allclose(an, fd, atol=1e-6)


# ----------------------------------------------------------------------------- fitting
def _energy_mae_per_atom(calc, frames) -> float:
    errs = []
    for fr in frames:
        a = Atoms(numbers=fr.numbers, positions=fr.positions, cell=fr.cell, pbc=fr.pbc)
        a.calc = calc
        errs.append(abs(a.get_potential_energy() - fr.info["energy"]) / len(a))
    return float(np.mean(errs))


def test_linear_fit_beats_the_force_spread(linear, split):
    """Held-out EMT MD frames: forces spread by ~0.5 eV/Å (MAD); the fit is far better."""
    mae, mad = _force_mae(linear, split[1])
    assert mae < 0.05 * mad, (mae, mad)
    assert _energy_mae_per_atom(linear, split[1]) < 2e-3


def test_schnet_fit_beats_the_force_spread(schnet, split):
    mae, mad = _force_mae(schnet, split[1])
    assert mae < 0.25 * mad, (mae, mad)
    # energies per atom of these frames spread by ~33 meV/atom; 3 epochs learn forces first
    assert _energy_mae_per_atom(schnet, split[1]) < 5e-2


def test_linear_on_epoch_called_once(split):
    cb = _Epochs()
    LinearACEPotential(n_radial_3=3, l_max=2).fit(split[0][:20], on_epoch=cb)
    assert len(cb.calls) == 1 and cb.calls[0][0] == 1 and np.isfinite(cb.calls[0][1])


def test_schnet_epochs_callback_and_early_stop(split):
    _needs_pyg()
    frames = split[0][:24]
    cb = _Epochs()
    m = SchNetPotential(hidden_channels=16, num_filters=16, num_interactions=1, max_epochs=3, random_state=0)
    m.fit(frames, on_epoch=cb)
    assert [e for e, _ in cb.calls] == [1, 2, 3]
    assert all(np.isfinite(v) and v > 0 for _, v in cb.calls)
    # the kept weights are those of the best validation epoch
    best = min(range(3), key=lambda k: cb.calls[k][1])
    assert m.best_epoch_ == best + 1
    stop = _Epochs(stop_at=2)
    SchNetPotential(hidden_channels=16, num_filters=16, num_interactions=1, max_epochs=10, random_state=0).fit(frames, on_epoch=stop)
    assert [e for e, _ in stop.calls] == [1, 2]


def test_schnet_same_seed_same_predictions(split):
    _needs_pyg()
    frames = split[0][:24]
    kw = {"hidden_channels": 16, "num_filters": 16, "num_interactions": 2, "max_epochs": 2}
    a = SchNetPotential(random_state=3, **kw).fit(frames)
    b = SchNetPotential(random_state=3, **kw).fit(frames)
    c = SchNetPotential(random_state=4, **kw).fit(frames)
    preds = []
    for m in (a, b, c):
        at = _rattled_alloy(9)
        at.calc = m
        preds.append((at.get_potential_energy(), at.get_forces().copy()))
    assert preds[0][0] == preds[1][0]
    np.testing.assert_array_equal(preds[0][1], preds[1][1])
    assert preds[0][0] != preds[2][0]


def test_schnet_nve_conserves_energy(schnet, split):
    from ase.md.verlet import VelocityVerlet

    from matscibench.families.potentials.data import thermalize

    at = Atoms(numbers=split[1][0].numbers, positions=split[1][0].positions, cell=split[1][0].cell, pbc=True)
    at.calc = schnet
    thermalize(at, 600.0, np.random.default_rng(0))
    dyn = VelocityVerlet(at, 1.0 * units.fs)
    etot, epot = [], []
    for _ in range(60):
        dyn.run(5)
        etot.append(at.get_total_energy())
        epot.append(at.get_potential_energy())
    etot, epot = np.array(etot) / len(at), np.array(epot) / len(at)
    # 300 steps of 1 fs: total energy flat to well under the potential energy's swings
    assert np.ptp(etot) < 2e-3, np.ptp(etot)
    assert np.ptp(etot) < 0.1 * np.ptp(epot)
    assert abs(etot[-1] - etot[0]) < 1e-3


# ----------------------------------------------------------------------------- adapters
@pytest.mark.parametrize(
    ("cls", "modules", "pip_name"),
    [
        ("CHGNetModel", ("chgnet", "chgnet.model", "chgnet.model.dynamics"), "chgnet"),
        ("SevenNetModel", ("sevenn", "sevenn.calculator"), "sevenn"),
    ],
)
def test_adapters_name_the_pip_command_when_missing(cls, modules, pip_name, monkeypatch):
    for mod in modules:
        monkeypatch.setitem(sys.modules, mod, None)  # import raises ImportError
    with pytest.raises(ImportError) as err:
        getattr(adapters, cls)()
    msg = str(err.value)
    assert f"pip install {pip_name}" in msg
    if importlib.util.find_spec("torch") is not None:
        assert "torch==" in msg


def test_generic_and_file_adapters_explain_what_is_missing(tmp_path, monkeypatch):
    with pytest.raises(ImportError, match="pip install no_such_pkg"):
        adapters.ASECalculatorModel("no_such_pkg.calc:Calc")
    m = adapters.ASECalculatorModel("ase.calculators.emt:EMT")
    at = molecule("H2O")
    at.calc = m
    assert np.isfinite(at.get_potential_energy())
    missing = tmp_path / "nowhere" / "mace.model"
    with pytest.raises(FileNotFoundError) as err:
        adapters.MACEModel(model_path=str(missing))
    assert str(missing) in str(err.value) and adapters.MACEModel.MACE_MP0_MEDIUM in str(err.value)
    with pytest.raises(FileNotFoundError, match="mattersim-v1.0.0-1M.pth"):
        adapters.MatterSimModel(load_path=str(tmp_path / "x.pth"))
    # the default weights location lives in the cache folder
    monkeypatch.setenv("MATSCIBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="models/mace"):
        adapters.MACEModel()


@pytest.mark.slow
@pytest.mark.parametrize("cls", ["CHGNetModel", "SevenNetModel"])
def test_universal_adapters_run(cls):
    pkg = {"CHGNetModel": "chgnet", "SevenNetModel": "sevenn"}[cls]
    if importlib.util.find_spec(pkg) is None:
        pytest.skip(f"{pkg} is not installed (pip install {pkg} torch==<installed>); the adapter is optional")
    m = getattr(adapters, cls)()
    cu = bulk("Cu", "fcc", a=3.61, cubic=True)
    cu.calc = m
    e0 = cu.get_potential_energy()
    assert np.isfinite(e0) and cu.get_forces().shape == (4, 3)
    # compressing the cell raises the pressure: ASE stress becomes more negative
    small = cu.copy()
    small.set_cell(cu.cell * 0.97, scale_atoms=True)
    small.calc = m
    assert small.get_stress()[:3].mean() < cu.get_stress()[:3].mean()
    assert {"Cu", "O", "H"} <= m.supported_elements
    mol = molecule("H2O")
    mol.calc = m
    assert mol.get_forces().shape == (3, 3)


# ----------------------------------------------------------------------------- registry
def test_registry_entries_build():
    from matscibench.families.registry import build_model, list_models

    from matscibench.families.potentials import FAMILY

    names = {e.name for e in FAMILY.models}
    assert {"emt_reference", "xtb_reference", "linear_acelike", "schnet_potential", "chgnet", "sevennet"} <= names
    assert "schnet" not in names  # the molecules family's property model owns that name
    models = list_models()
    assert all(models[n].family == "potentials" for n in names)
    assert isinstance(build_model("emt_reference"), adapters.EMTReference)
    m = build_model("schnet_potential", {"max_epochs": 2})  # construction imports no torch
    assert isinstance(m, SchNetPotential)
    assert m.get_params()["max_epochs"] == 2
    m.set_params(random_state=5)
    assert m.random_state == 5
    assert build_model("linear_acelike").supported_elements is None


def test_linear_atoms_without_neighbours(linear):
    """A dimer stretched past the cutoff (the dimer curves of the potentials task) has no pairs:
    the energy is the two one-body terms, forces zero, and the curve is continuous at the cutoff
    (the descriptors' (1 - (r/r_c)²)³ envelope). It raised a reshape error before."""
    def dimer(r):
        at = Atoms("Cu2", positions=[[10, 10, 10], [10 + r, 10, 10]], cell=[40, 40.001, 40.002], pbc=False)
        at.calc = linear
        return at.get_potential_energy(), at.get_forces()

    e_far, f_far = dimer(linear.cutoff + 1.0)
    assert np.all(f_far == 0.0)
    assert dimer(linear.cutoff + 3.0)[0] == pytest.approx(e_far)
    e_near, _ = dimer(linear.cutoff - 1e-4)
    assert e_near == pytest.approx(e_far, abs=1e-6)
