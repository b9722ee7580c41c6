"""Interatomic-potential metrics: errors on labelled frames, and physics in use.

Errors follow the conventions of the MD17/rMD17 literature (energy MAE per atom, force MAE per
Cartesian component; Christensen & von Lilienfeld, Mach. Learn.: Sci. Technol. 1, 045018 (2020)).
The force angle and magnitude errors are those SciML-Bench reports for force fields (Thiyagalingam
et al., "Scientific machine learning benchmarks", Nat. Rev. Phys. 4, 413 (2022)): the angle
between predicted and reference force vectors, and the relative error of their lengths, per atom,
over atoms whose reference force is not negligible (|F| > ``min_force`` eV/Å).

Units: energies eV in, meV/atom out; forces eV/Å in, meV/Å out; stress eV/Å³ in, GPa out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from matscibench.metrics import MetricInfo, register_metric

__all__ = [
    "EV_PER_A3_IN_GPA",
    "energy_errors_per_atom",
    "force_errors",
    "force_angle_error",
    "force_magnitude_error",
    "stress_mae",
    "rdf",
    "rdf_mae",
    "md_stable_time",
    "birch_murnaghan_fit",
]

#: 1 eV/Å³ in GPa (e × 1e30 / 1e9)
EV_PER_A3_IN_GPA = 160.21766208

for _info in (
    MetricInfo("force_mae", "force MAE", False, "meV/Å"),
    MetricInfo("force_rmse", "force RMSE", False, "meV/Å"),
    MetricInfo("energy_mae", "energy MAE", False, "meV/atom"),
    MetricInfo("energy_rmse", "energy RMSE", False, "meV/atom"),
    MetricInfo("stress_mae", "stress MAE", False, "GPa"),
    MetricInfo("force_angle_error", "force angle error", False, "degrees"),
    MetricInfo("force_magnitude_error", "force magnitude error", False, "%"),
    MetricInfo("force_mae_extrapolation", "force MAE, hardest group", False, "meV/Å"),
    MetricInfo("md_stable_time", "MD stable time", True, "ps"),
    MetricInfo("md_stable_fraction", "MD runs stable to the end", True, None),
    MetricInfo("rdf_mae", "RDF error", False, None),
    MetricInfo("eos_volume_error", "EOS V0 error", False, "Å³/atom"),
    MetricInfo("eos_bulk_modulus_error", "EOS bulk modulus error", False, "GPa"),
    MetricInfo("phonon_dos_error", "phonon DOS error", False, None),
    MetricInfo("phonon_max_freq_error", "max phonon frequency error", False, "THz"),
    MetricInfo("phonon_cv_error", "Cv(300 K) error", False, "%"),
    MetricInfo("phonon_imaginary_modes", "spurious imaginary modes", False, None),
):
    register_metric(_info)


def energy_errors_per_atom(e_true: ArrayLike, e_pred: ArrayLike, n_atoms: ArrayLike) -> tuple[float, float]:
    """(MAE, RMSE) of total energies divided by the number of atoms, in meV/atom."""
    t, p, n = (np.asarray(x, dtype=float).ravel() for x in (e_true, e_pred, n_atoms))
    d = (p - t) / n * 1e3
    return float(np.mean(np.abs(d))), float(np.sqrt(np.mean(d**2)))


def force_errors(f_true: ArrayLike, f_pred: ArrayLike) -> tuple[float, float]:
    """(MAE, RMSE) over all Cartesian force components, in meV/Å."""
    t = np.asarray(f_true, dtype=float).reshape(-1)
    p = np.asarray(f_pred, dtype=float).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"{t.size} reference force components, {p.size} predicted")
    d = (p - t) * 1e3
    return float(np.mean(np.abs(d))), float(np.sqrt(np.mean(d**2)))


def _vectors(f_true: ArrayLike, f_pred: ArrayLike, min_force: float):
    t = np.asarray(f_true, dtype=float).reshape(-1, 3)
    p = np.asarray(f_pred, dtype=float).reshape(-1, 3)
    nt = np.linalg.norm(t, axis=1)
    keep = nt > min_force
    return t[keep], p[keep], nt[keep]


def force_angle_error(f_true: ArrayLike, f_pred: ArrayLike, min_force: float = 0.05) -> float:
    """Mean angle (degrees) between predicted and reference force vectors, atoms with |F_ref| > min_force eV/Å."""
    t, p, nt = _vectors(f_true, f_pred, min_force)
    if not len(t):
        return float("nan")
    np_ = np.linalg.norm(p, axis=1)
    cos = np.einsum("ij,ij->i", t, p) / (nt * np.where(np_ > 0, np_, np.inf))
    return float(np.degrees(np.arccos(np.clip(np.where(np_ > 0, cos, 0.0), -1.0, 1.0))).mean())


def force_magnitude_error(f_true: ArrayLike, f_pred: ArrayLike, min_force: float = 0.05) -> float:
    """Mean relative error of force lengths, | |F_pred| - |F_ref| | / |F_ref|, in percent."""
    t, p, nt = _vectors(f_true, f_pred, min_force)
    if not len(t):
        return float("nan")
    return float(np.mean(np.abs(np.linalg.norm(p, axis=1) - nt) / nt) * 100.0)


def stress_mae(s_true: ArrayLike, s_pred: ArrayLike) -> float:
    """MAE over the six Voigt components, in GPa (inputs eV/Å³); NaN rows are skipped."""
    t = np.asarray(s_true, dtype=float).reshape(-1, 6)
    p = np.asarray(s_pred, dtype=float).reshape(-1, 6)
    keep = np.isfinite(t).all(axis=1) & np.isfinite(p).all(axis=1)
    if not keep.any():
        return float("nan")
    return float(np.mean(np.abs(p[keep] - t[keep])) * EV_PER_A3_IN_GPA)


def rdf(frames: Sequence, r_max: float = 6.0, n_bins: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Radial distribution of pair distances averaged over frames: (bin centres Å, g(r)).

    Periodic frames: the usual g(r) normalised by the ideal-gas pair density; molecules: the
    pair-distance histogram normalised to unit area (a "pair distribution"), which is what can be
    compared between two trajectories of one molecule.
    """
    import vesin

    edges = np.linspace(0.0, r_max, n_bins + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    hist = np.zeros(n_bins)
    periodic = bool(frames) and bool(np.asarray(frames[0].pbc).any())
    norm = 0.0
    for at in frames:
        if periodic:
            nl = vesin.NeighborList(cutoff=r_max, full_list=False)
            d = nl.compute(points=at.positions, box=np.asarray(at.cell), periodic=True, quantities="d")[0]
            h, _ = np.histogram(d, bins=edges)
            n = len(at)
            rho = n / at.get_volume()
            shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
            hist += 2.0 * h / (n * rho * shell)
            norm += 1.0
        else:
            pos = at.positions
            d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)[np.triu_indices(len(at), 1)]
            h, _ = np.histogram(d, bins=edges)
            hist += h
            norm += h.sum() * (edges[1] - edges[0]) if h.sum() else 1.0
    return centres, hist / max(norm, 1e-300)


def rdf_mae(g_a: ArrayLike, g_b: ArrayLike) -> float:
    """Mean absolute difference of two RDFs on the same grid."""
    a, b = np.asarray(g_a, dtype=float), np.asarray(g_b, dtype=float)
    return float(np.mean(np.abs(a - b)))


def md_stable_time(stable_steps: ArrayLike, timestep_fs: float) -> float:
    """Mean time (ps) before each run became unphysical (runs that survived count their full length)."""
    return float(np.mean(np.asarray(stable_steps, dtype=float)) * timestep_fs / 1000.0)


def birch_murnaghan_fit(volumes: ArrayLike, energies: ArrayLike) -> tuple[float, float, float]:
    """Third-order Birch-Murnaghan fit: (V0 in Å³, E0 in eV, B0 in GPa) (ASE's EquationOfState)."""
    from ase.eos import EquationOfState
    from ase.units import GPa

    v0, e0, b = EquationOfState(np.asarray(volumes, float), np.asarray(energies, float), eos="birchmurnaghan").fit()
    return float(v0), float(e0), float(b / GPa)
