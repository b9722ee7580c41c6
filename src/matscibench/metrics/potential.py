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
    "residual_forces",
    "spearman",
    "referenced_energies",
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
    # DFT-relaxed cells (CDVAE's Perov-5, Carbon-24): forces should vanish, energies rank as DFT's
    MetricInfo("residual_force_rms", "residual force RMS on DFT-relaxed cells", False, "meV/Å", (0.0, float("inf"))),
    MetricInfo("residual_force_max", "largest residual force on DFT-relaxed cells", False, "meV/Å", (0.0, float("inf"))),
    MetricInfo("residual_pressure", "residual pressure on DFT-relaxed cells", False, "GPa", (0.0, float("inf"))),
    MetricInfo("energy_spearman", "energy ranking vs DFT (Spearman ρ, referenced)", True, None, (-1.0, 1.0)),
    MetricInfo("energy_spearman_raw", "energy ranking vs DFT (Spearman ρ, per-atom energy as is)", True, None, (-1.0, 1.0)),
    MetricInfo("composition_baseline_spearman", "composition-only ranking vs DFT (Spearman ρ)", True, None, (-1.0, 1.0)),
    MetricInfo("relaxed_energy_mae", "energy MAE vs DFT after element references", False, "meV/atom", (0.0, float("inf"))),
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


# ------------------------------------------------------------------------- DFT-relaxed cells
def residual_forces(forces: Sequence[ArrayLike]) -> tuple[float, float]:
    """(RMS over all Cartesian components, largest per-atom force length), in meV/Å.

    On cells relaxed with DFT both are zero for a potential that reproduces DFT's minima.
    """
    f = np.concatenate([np.asarray(x, dtype=float).reshape(-1, 3) for x in forces]) if len(forces) else np.empty((0, 3))
    if not len(f):
        return float("nan"), float("nan")
    return float(np.sqrt(np.mean(f**2)) * 1e3), float(np.linalg.norm(f, axis=1).max() * 1e3)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, tied values sharing the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=float)
    ranks[order] = np.arange(1, len(x) + 1, dtype=float)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    if (counts > 1).any():
        sums = np.bincount(inverse, weights=ranks)
        ranks = (sums / counts)[inverse]
    return ranks


def spearman(a: ArrayLike, b: ArrayLike) -> float:
    """Spearman's rank correlation ρ (Pearson correlation of the ranks, ties averaged).

    Non-finite pairs are dropped; NaN when fewer than 3 pairs remain or either side is constant.
    """
    x, y = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"{x.size} values against {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3:
        return float("nan")
    rx, ry = _ranks(x) - (len(x) + 1) / 2.0, _ranks(y) - (len(y) + 1) / 2.0
    den = np.sqrt(np.sum(rx**2) * np.sum(ry**2))
    return float(np.sum(rx * ry) / den) if den > 0 else float("nan")


def referenced_energies(
    e_pred: ArrayLike, counts: ArrayLike, y_true: ArrayLike, n_folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Per-atom energies of a model put on the scale of DFT's formation energies, cross-fitted.

    A potential's total energies and DFT's formation energies differ by elemental reference
    energies μ_e (the model's energy of the elements is not DFT's reference): Σ_e n_e μ_e per cell.
    Those μ are fitted by least squares, ``E_pred - N·y_true ≈ counts @ μ``, on the cells of the
    other folds (``n_folds`` seeded folds) and removed from each held-out cell:
    ``(E_pred - counts @ μ) / N`` (eV/atom). Cells with an element no other fold contains are NaN.
    With a single element there is one constant to fit and nothing to overfit: it is fitted on
    all cells (the ranking is the raw one). For a model whose energies are DFT's plus any
    per-element offsets, the result equals ``y_true``.

    ``e_pred`` (n,) total energies eV; ``counts`` (n, elements) atoms of each element;
    ``y_true`` (n,) DFT energies per atom (eV/atom).
    """
    e = np.asarray(e_pred, dtype=float).ravel()
    c = np.asarray(counts, dtype=float).reshape(len(e), -1)
    y = np.asarray(y_true, dtype=float).ravel()
    n = c.sum(axis=1)
    if c.shape[1] == 1:
        return (e - n * np.mean((e - n * y) / n)) / n
    out = np.full(len(e), np.nan)
    fold = np.random.default_rng(seed).permutation(len(e)) % max(2, int(n_folds))
    for k in np.unique(fold):
        tr, te = fold != k, fold == k
        present = c[tr].sum(axis=0) > 0
        mu = np.zeros(c.shape[1])
        mu[present] = np.linalg.lstsq(c[tr][:, present], e[tr] - n[tr] * y[tr], rcond=None)[0]
        ok = te & ~(c[:, ~present] > 0).any(axis=1)
        out[ok] = (e[ok] - c[ok] @ mu) / n[ok]
    return out
