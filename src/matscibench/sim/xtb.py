"""GFN2-xTB through tblite: relax and label small molecules (electronic and vibrational targets).

The driver behind the embedded ``xtb_molecules`` / ``xtb_molecules_vib`` datasets:
:func:`label_molecule` embeds a SMILES string in 3-D with RDKit (ETKDG + MMFF94), relaxes it with
GFN2-xTB (tblite's ASE calculator; Bannwarth, Ehlert & Grimme, JCTC 15, 1652 (2019)) under BFGS
started from the MMFF94 Hessian, and labels it: total energy, HOMO, LUMO, gap (eV) and dipole
moment (D) from one single point through tblite's API (:func:`xtb_electronic_labels`). A molecule
whose bonds change during the relaxation is rejected (:class:`Rejected`).

With ``vibrations=True`` the relaxation is tighter and :func:`vibrational_labels` adds a
finite-difference xTB Hessian (:func:`xtb_hessian`; translations and rotations projected out,
:func:`project_rigid_motions`), ASE ``VibrationsData`` for the frequencies and ``IdealGasThermo``
(rigid rotor, harmonic oscillator, ideal gas at 298.15 K and 1 atm) for ZPVE, U0, U, H, G and Cv
(:func:`harmonic_cv`), plus the highest frequency ω1 (cm⁻¹). A molecule that is not a minimum (an
imaginary mode above ``IMAG_TOL_CM``) is rejected.

:func:`label_chunk` labels a list of candidates in one process (one OpenMP thread): the unit of
work of a dataset build's process pool. Units go through ``sim.units.convert``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import numpy as np

from matscibench.errors import DatasetError
from matscibench.sim.units import BOHR_IN_ANGSTROM, KB_EV_PER_K, R_CAL_PER_MOL_K, convert

__all__ = [
    "FMAX_ELECTRONIC",
    "FMAX_VIBRATIONS",
    "HESSIAN_STEP",
    "IMAG_TOL_CM",
    "BOND_FACTOR",
    "THERMO_T_K",
    "THERMO_P_PA",
    "Rejected",
    "bond_matrix",
    "xtb_electronic_labels",
    "xtb_hessian",
    "project_rigid_motions",
    "harmonic_cv",
    "vibrational_labels",
    "label_molecule",
    "label_chunk",
]

#: force thresholds (eV/Å) of the relaxations: electronic labels / vibrational analysis
FMAX_ELECTRONIC = 0.02
FMAX_VIBRATIONS = 0.005
#: finite-difference step (Å) of the Hessian (central differences)
HESSIAN_STEP = 0.005
#: an imaginary mode above this (cm⁻¹) marks a saddle point: the molecule is dropped
IMAG_TOL_CM = 30.0
#: a bond exists when the distance is below this factor times the sum of covalent radii
BOND_FACTOR = 1.25

#: temperature (K) and pressure (Pa) of the thermochemistry, as in QM9 (Gaussian defaults)
THERMO_T_K = 298.15
THERMO_P_PA = 101325.0


class Rejected(Exception):
    """A candidate that is not kept (embedding failed, bonds changed, saddle point)."""


def bond_matrix(numbers: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Bonded pairs (bool N x N): closer than ``BOND_FACTOR`` times the sum of covalent radii."""
    from ase.data import covalent_radii

    r = covalent_radii[numbers]
    d = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
    adj = d < BOND_FACTOR * (r[:, None] + r[None, :])
    np.fill_diagonal(adj, False)
    return adj


def _mmff_hessian(mol) -> np.ndarray | None:
    """MMFF94 Hessian (eV/Å², by differences of MMFF gradients), eigenvalues floored: a good
    starting Hessian for BFGS on the xTB surface (about a third fewer steps)."""
    from rdkit.Chem import AllChem

    props = AllChem.MMFFGetMoleculeProperties(mol)
    if props is None:
        return None
    ff = AllChem.MMFFGetMoleculeForceField(mol, props)
    x0 = np.asarray(ff.Positions(), dtype=float)
    h = 1e-3
    H = np.empty((x0.size, x0.size))
    for i in range(x0.size):
        xp, xm = x0.copy(), x0.copy()
        xp[i] += h
        xm[i] -= h
        H[i] = (np.asarray(ff.CalcGrad(xp.tolist())) - np.asarray(ff.CalcGrad(xm.tolist()))) / (2 * h)
    H = 0.5 * (H + H.T) * convert(1.0, "kcal/mol", "eV")
    w, v = np.linalg.eigh(H)
    return (v * np.clip(w, 5.0, None)) @ v.T


def _xtb_api(numbers: np.ndarray, positions: np.ndarray):
    from tblite.interface import Calculator

    calc = Calculator("GFN2-xTB", numbers, positions / BOHR_IN_ANGSTROM)
    calc.set("verbosity", 0)
    return calc


def xtb_electronic_labels(numbers: np.ndarray, positions: np.ndarray) -> dict[str, float]:
    """GFN2-xTB single point through tblite's API: energy, HOMO, LUMO, gap (eV), |μ| (D)."""
    res = _xtb_api(numbers, positions).singlepoint()
    eps = np.asarray(res["orbital-energies"], dtype=float)
    occ = np.asarray(res["orbital-occupations"], dtype=float)
    if occ.ndim > 1:  # spin-resolved: total occupation per spatial orbital
        occ = occ.sum(axis=0)
    filled = np.nonzero(occ > 1.0)[0]
    if not filled.size or filled[-1] + 1 >= eps.size:
        raise DatasetError("xTB gave no HOMO/LUMO pair")
    homo, lumo = eps[filled[-1]], eps[filled[-1] + 1]
    return {
        "energy": float(convert(float(res["energy"]), "Ha", "eV")),
        "homo": float(convert(homo, "Ha", "eV")),
        "lumo": float(convert(lumo, "Ha", "eV")),
        "gap": float(convert(lumo - homo, "Ha", "eV")),
        "mu": float(convert(np.linalg.norm(res["dipole"]), "e·a0", "D")),
    }


def xtb_hessian(numbers: np.ndarray, positions: np.ndarray, step: float = HESSIAN_STEP) -> np.ndarray:
    """Cartesian Hessian (eV/Å², 3N x 3N) by central differences of GFN2-xTB gradients."""
    calc = _xtb_api(numbers, positions)
    res = calc.singlepoint()
    n = len(numbers)
    H = np.empty((3 * n, 3 * n))
    for i in range(n):
        for c in range(3):
            grads = []
            for s in (step, -step):
                p = positions.copy()
                p[i, c] += s
                calc.update(positions=p / BOHR_IN_ANGSTROM)
                res = calc.singlepoint(res)
                grads.append(np.asarray(res["gradient"], dtype=float).ravel())
            H[3 * i + c] = (grads[0] - grads[1]) / (2 * step / BOHR_IN_ANGSTROM)
    H = 0.5 * (H + H.T)
    return convert(H, "Ha/bohr²", "eV/Å²")


def project_rigid_motions(H: np.ndarray, masses: np.ndarray, positions: np.ndarray, linear: bool) -> np.ndarray:
    """Remove translations and rotations from a Cartesian Hessian (Eckart projection in
    mass-weighted coordinates), returned in Cartesian form again."""
    n = len(masses)
    sq = np.sqrt(np.repeat(masses, 3))
    com = (masses[:, None] * positions).sum(0) / masses.sum()
    r = positions - com
    vecs = []
    for a in range(3):
        t = np.zeros((n, 3))
        t[:, a] = 1.0
        vecs.append(t.ravel() * sq)
    for a in range(3):
        axis = np.zeros(3)
        axis[a] = 1.0
        vecs.append(np.cross(axis, r).ravel() * sq)
    B = np.array(vecs).T
    u, s, _ = np.linalg.svd(B, full_matrices=False)
    U = u[:, s > 1e-6 * s.max()]
    P = np.eye(3 * n) - U @ U.T
    Hm = H / np.outer(sq, sq)
    Hm = P @ Hm @ P
    return Hm * np.outer(sq, sq)


def harmonic_cv(vib_energies_eV: np.ndarray, geometry: str, temperature: float = THERMO_T_K) -> float:
    """Constant-volume heat capacity of an ideal gas of rigid rotors with harmonic vibrations,
    in cal/(mol K): 3/2 R (translation) + R (linear) or 3/2 R (nonlinear rotation) + the
    Einstein terms R x² eˣ / (eˣ - 1)², x = ħω / k_B T (as Gaussian reports for QM9)."""
    rot = {"linear": 1.0, "nonlinear": 1.5, "monatomic": 0.0}[geometry]
    x = np.asarray(vib_energies_eV, dtype=float) / (KB_EV_PER_K * temperature)
    x = x[x > 0]
    ein = np.sum(x**2 * np.exp(-x) / (1.0 - np.exp(-x)) ** 2)
    return float(R_CAL_PER_MOL_K * (1.5 + rot + ein))


def _geometry_kind(atoms) -> str:
    if len(atoms) == 1:
        return "monatomic"
    inertia = atoms.get_moments_of_inertia()
    return "linear" if inertia.min() < 1e-3 * max(inertia.max(), 1e-12) else "nonlinear"


def vibrational_labels(atoms, energy_eV: float) -> dict[str, float]:
    """ZPVE, U0, U, H, G (eV), Cv (cal/(mol K)) at 298.15 K and ω1 (cm⁻¹) from the xTB Hessian,
    via ASE ``VibrationsData`` (frequencies) and ``IdealGasThermo`` (thermochemistry)."""
    from ase.thermochemistry import IdealGasThermo
    from ase.vibrations import VibrationsData
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.symmetry.analyzer import PointGroupAnalyzer

    geometry = _geometry_kind(atoms)
    n_rigid = {"monatomic": 3, "linear": 5, "nonlinear": 6}[geometry]
    H = xtb_hessian(atoms.numbers, atoms.positions)
    H = project_rigid_motions(H, atoms.get_masses(), atoms.positions, geometry == "linear")
    vib = VibrationsData.from_2d(atoms, H)
    energies = np.asarray(vib.get_energies())  # eV, complex for imaginary modes
    signed = np.where(np.abs(energies.imag) > np.abs(energies.real), -np.abs(energies.imag), energies.real)
    signed = signed[np.argsort(np.abs(signed))][n_rigid:]
    freqs_cm = convert(signed, "eV", "cm⁻¹")
    if freqs_cm.size and freqs_cm.min() < -IMAG_TOL_CM:
        raise Rejected(f"saddle point: imaginary mode of {-freqs_cm.min():.0f} cm⁻¹")
    vib_e = np.abs(signed)
    sigma = 1
    with contextlib.suppress(Exception):
        sigma = int(PointGroupAnalyzer(AseAtomsAdaptor.get_molecule(atoms)).get_rotational_symmetry_number())
    thermo = IdealGasThermo(vib_energies=vib_e, geometry=geometry, potentialenergy=energy_eV, atoms=atoms,
                            symmetrynumber=sigma, spin=0, vib_selection="all")
    zpve = float(thermo.get_ZPE_correction())
    return {
        "zpve": zpve,
        "u0": energy_eV + zpve,
        "u": float(thermo.get_internal_energy(THERMO_T_K, verbose=False)),
        "h": float(thermo.get_enthalpy(THERMO_T_K, verbose=False)),
        "g": float(thermo.get_gibbs_energy(THERMO_T_K, THERMO_P_PA, verbose=False)),
        "cv": harmonic_cv(vib_e, geometry),
        "omega1": float(freqs_cm.max()) if freqs_cm.size else float("nan"),
        "lowest_mode_cm": float(freqs_cm.min()) if freqs_cm.size else float("nan"),
        "symmetry_number": float(sigma),
    }


def label_molecule(smiles: str, seed: int, vibrations: bool = False) -> dict[str, Any]:
    """Embed, relax and label one molecule; raises ``Rejected`` with the reason when dropped."""
    import warnings

    from ase import Atoms
    from ase.optimize import BFGS
    from rdkit import Chem
    from rdkit.Chem import AllChem
    from tblite.ase import TBLite

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed) % (2**31)
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise Rejected("RDKit could not embed it")
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol, maxIters=500)
        H0 = _mmff_hessian(mol)
    else:
        AllChem.UFFOptimizeMolecule(mol, maxIters=500)
        H0 = None
    numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    ref = np.zeros((len(numbers), len(numbers)), dtype=bool)
    for b in mol.GetBonds():
        ref[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] = ref[b.GetEndAtomIdx(), b.GetBeginAtomIdx()] = True
    atoms = Atoms(numbers=numbers, positions=mol.GetConformer().GetPositions())
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    fmax = FMAX_VIBRATIONS if vibrations else FMAX_ELECTRONIC
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = BFGS(atoms, logfile=None)
        if H0 is not None:
            opt.H0 = H0
        try:
            converged = opt.run(fmax=fmax, steps=1000)
        except Exception as exc:  # tblite SCF failure on a broken geometry
            raise Rejected(f"xTB failed: {exc}") from None
    if not converged:
        raise Rejected("relaxation did not converge in 1000 steps")
    positions = atoms.positions.copy()
    if not np.array_equal(bond_matrix(numbers, positions), ref):
        raise Rejected("bonds changed during the xTB relaxation")
    rec: dict[str, Any] = {"smiles": smiles, "numbers": numbers.tolist(), "positions": positions.tolist(),
                           "relax_steps": int(opt.nsteps)}
    rec.update(xtb_electronic_labels(numbers, positions))
    if vibrations:
        atoms.calc = None
        rec.update(vibrational_labels(atoms, rec["energy"]))
    return rec


def label_chunk(args: tuple[str, int, int, list[str], bool]) -> list[dict[str, Any]]:
    """Label candidates ``start .. start+len(smiles)-1``; one record (or a rejection) each.

    ``args`` = (kind, seed, start, smiles, vibrations); candidate ``start + k`` is embedded with
    the seed ``seed * 1_000_003 + start + k``. Runs in a fresh worker process: it needs nothing
    from its parent but its arguments."""
    import tblite.interface  # noqa: F401  (load its OpenMP runtime before limiting it)
    from rdkit import RDLogger
    from threadpoolctl import threadpool_limits

    RDLogger.DisableLog("rdApp.*")  # a fresh worker process does not inherit the parent's setting
    kind, seed, start, smiles, vibrations = args
    out: list[dict[str, Any]] = []
    # one OpenMP thread per process: tblite's threads spin-wait, and with more threads than
    # free cores a labelling runs 30x slower
    with threadpool_limits(1):
        _label_all(out, seed, start, smiles, vibrations)
    return out


def _label_all(out: list, seed: int, start: int, smiles: list[str], vibrations: bool) -> None:
    for k, smi in enumerate(smiles):
        index = start + k
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            rec = label_molecule(smi, seed * 1_000_003 + index, vibrations)
            rec["status"] = "ok"
        except Rejected as exc:
            rec = {"smiles": smi, "status": "rejected", "reason": str(exc)}
        rec["index"] = index
        rec["seconds"] = time.perf_counter() - t0
        rec["cpu_seconds"] = time.process_time() - c0
        out.append(rec)
