"""Interatomic-potential metrics: errors on labelled frames, and physics in use.

Energy errors come two ways. Per structure (meV): the MD17/rMD17 literature and the BOTNet/MACE
papers give the MAE of total energies per configuration in meV (Christensen & von Lilienfeld,
Mach. Learn.: Sci. Technol. 1, 045018 (2020); Batatia et al., arXiv:2205.06643 and MACE,
NeurIPS 2022: ``mae_e`` over configurations in mace/tools/train.py), the headline for molecules.
Per atom (meV/atom): total-energy errors divided by the number of atoms, the usual figure for
periodic cells of different sizes (Matbench Discovery, MLIP Arena). Force MAE/RMSE are over
Cartesian components (MACE's ``mae_f``).

The SciML-Bench force errors (``sciml_force_*``) are those of its HydroNet benchmark
(Thiyagalingam et al., Nat. Rev. Phys. 4, 413 (2022); code: stfc-sciml/sciml-bench commit
3fbaaa0c2ce1adafd3c831e20d39c4a292743a42, sciml_bench/benchmarks/science/hydronet/utils/infer.py):
per atom, the angle between predicted and reference force vectors divided by π (0 = same
direction, 1 = opposite) and the signed difference of their lengths ‖F̂‖ − ‖F‖; per structure the
mean of the absolute value and of the square; then the mean over structures. SciML-Bench's
``infer(force_type='error')`` returns the per-atom values; the per-cluster MAE/MSE then mean is
that of HydroNet's evaluation script ``infer_with_error`` (fme_mae, fme_mse, fae_mae, fae_mse
per cluster). On a molecular dataset (every structure the same size) it equals the mean over
all atoms. The project's
earlier variants stay under their own names: ``force_angle_deg`` (degrees) and
``force_magnitude_rel_error`` (|‖F̂‖ − ‖F‖| / ‖F‖ in %), pooled over atoms with ‖F‖ > 0.05 eV/Å.

Units: energies eV in, meV or meV/atom out; forces eV/Å in, meV/Å out; stress eV/Å³ in, GPa out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from matscibench.metrics import MetricInfo, register_metric

__all__ = [
    "EV_PER_A3_IN_GPA",
    "energy_errors_per_atom",
    "energy_errors_per_structure",
    "force_errors",
    "sciml_force_errors",
    "force_angle_deg",
    "force_magnitude_rel_error",
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

_SCIML = ("SciML-Bench (Thiyagalingam et al. 2022), HydroNet benchmark")
_SCIML_CODE = ("stfc-sciml/sciml-bench@3fbaaa0, benchmarks/science/hydronet/utils/infer.py")
_MACE = "MACE (Batatia et al. 2022) / BOTNet (arXiv:2205.06643) / rMD17 (Christensen & von Lilienfeld 2020)"
_FU = "Fu et al., Forces are not enough (TMLR 2023), MDsim"
_ARENA = "MLIP Arena (Chiang et al. 2025)"
_INF = (0.0, float("inf"))


def _m(name: str, label: str, higher: bool, unit: str | None, definition: str, paper: str = "",
       paper_definition: str = "", same: bool | None = None, bounds: tuple[float, float] = _INF) -> MetricInfo:
    return MetricInfo(name, label, higher, unit, bounds, family="potentials", definition=definition, paper=paper,
                      paper_definition=paper_definition, same_as_paper=same)


for _info in (
    _m("force_mae", "force MAE", False, "meV/Å",
       "mean |F̂ − F| over all Cartesian components of all test atoms, pooled", _MACE,
       "mean over all force components of the test set (MACE mace/tools/train.py, mae_f)", True),
    _m("force_rmse", "force RMSE", False, "meV/Å",
       "root mean square of F̂ − F over all Cartesian components, pooled", _MACE,
       "rmse_f over all force components (MACE mace/tools/train.py)", True),
    _m("energy_mae_per_structure", "energy MAE per structure", False, "meV",
       "mean over test structures of |Ê − E| (total energies); the energy headline of molecular tasks", _MACE,
       "MAE of the total energy per configuration in meV (rMD17 tables; MACE mae_e)", True),
    _m("energy_rmse_per_structure", "energy RMSE per structure", False, "meV",
       "root mean square over test structures of Ê − E (total energies)", _MACE,
       "rmse_e over configurations in meV (the BOTNet/MACE 3BPA and acac tables)", True),
    _m("energy_mae_per_atom", "energy MAE per atom", False, "meV/atom",
       "mean over test structures of |Ê − E| / N_atoms; the energy headline of periodic tasks"),
    _m("energy_rmse_per_atom", "energy RMSE per atom", False, "meV/atom",
       "root mean square over test structures of (Ê − E) / N_atoms"),
    _m("stress_mae", "stress MAE", False, "GPa",
       "mean |σ̂ − σ| over the six Voigt components of the cells with a stress label (ASE sign, converted from eV/Å³)"),
    _m("sciml_force_angle_mae", "SciML-Bench force angle error (MAE, angle/π)", False, None,
       "per atom θ/π with θ = arccos(F̂·F / ‖F̂‖‖F‖); per structure mean |θ/π|; mean over structures "
       "(atoms with a zero-length force left out)", _SCIML,
       f"force_angular_error = arccos(f̂/‖f̂‖ · f/‖f‖)/π per atom ({_SCIML_CODE}); per cluster mean |·| and "
       "mean of squares, then over clusters (HydroNet's infer_with_error); equal to the per-atom mean when "
       "all structures have the same size", True, (0.0, 1.0)),
    _m("sciml_force_angle_mse", "SciML-Bench force angle error (MSE, (angle/π)²)", False, None,
       "per atom θ/π; per structure mean (θ/π)²; mean over structures", _SCIML,
       f"as sciml_force_angle_mae with squares ({_SCIML_CODE})", True, (0.0, 1.0)),
    _m("sciml_force_magnitude_mae", "SciML-Bench force magnitude error (MAE)", False, "meV/Å",
       "per atom ‖F̂‖ − ‖F‖; per structure mean |·|; mean over structures", _SCIML,
       f"force_magnitude_error = ‖f̂‖ − ‖f‖ per atom ({_SCIML_CODE}); per cluster mean |·|, then over clusters",
       True),
    _m("sciml_force_magnitude_mse", "SciML-Bench force magnitude error (MSE)", False, "(meV/Å)²",
       "per atom ‖F̂‖ − ‖F‖; per structure mean of squares; mean over structures", _SCIML,
       f"as sciml_force_magnitude_mae with squares ({_SCIML_CODE})", True),
    _m("force_angle_deg", "force angle error (degrees, |F| > 0.05 eV/Å)", False, "degrees",
       "mean over all atoms with ‖F‖ > 0.05 eV/Å (pooled) of the angle between F̂ and F in degrees; "
       "a variant of SciML-Bench's (other unit, filter and averaging)", _SCIML,
       "see sciml_force_angle_mae", False, (0.0, 180.0)),
    _m("force_magnitude_rel_error", "relative force magnitude error (|F| > 0.05 eV/Å)", False, "%",
       "mean over atoms with ‖F‖ > 0.05 eV/Å (pooled) of |‖F̂‖ − ‖F‖| / ‖F‖ in %; a variant of SciML-Bench's "
       "absolute error", _SCIML, "see sciml_force_magnitude_mae", False),
    _m("force_mae_extrapolation", "force MAE, hardest group", False, "meV/Å",
       "force MAE of the test group with the largest error"),
    _m("md_stable_time", "MD stable time (Fu et al. protocol)", True, "ps",
       "mean over seeds of the time of the first recorded frame (every 0.05 ps) where a bond's length deviates by "
       "more than 0.5 Å from its mean over the reference dataset (bonds: ASE natural cutoffs on the start frame), "
       "or the run's length; Nosé-Hoover (one thermostat, Q = 3N kT (20 dt)²), 0.5 fs, T as the task says", _FU,
       "kyonofx/MDsim@61ca2cf observable.ipynb load_run: collapse at max |d − d̄_ref| > 0.5 Å, stability "
       "(collapse_pt − 1)/20 ps; simulate.py + configs/simulate/*.yml: NoseHoover ttime 20, 0.5 fs, 500 K, "
       "600,000 steps (300 ps), frames every 100 steps", True),
    _m("md_stable_time_ci95", "MD stable time, 95 % CI half-width over seeds", False, "ps",
       "t-distribution 95 % confidence half-width of md_stable_time over the seeds (t₀.₉₇₅,ₙ₋₁ s/√n)"),
    _m("md_stable_fraction", "MD runs stable to the end (Fu et al. protocol)", True, None,
       "fraction of the seeds whose run never met the bond criterion", bounds=(0.0, 1.0)),
    _m("md_n_seeds", "MD seeds", True, None, "number of MD runs (seeds, each from its own test frame)"),
    _m("hr_error", "h(r) error", False, None,
       "∫|h_model(r) − h_ref(r)| dr over 0-10 Å (mean over 500 bins × 10 Å), h the normalised histogram of all "
       "interatomic distances of the MD frames up to the collapse (all seeds) and of the reference dataset", _FU,
       "MDsim observable.ipynb: get_hr (np.histogram of torch.cdist distances, density=True, bins "
       "linspace(1e-6, 10, 501)), hr_error = mean |Δh| × 10", True),
    _m("md_screen_stable_time", "MD screen: stable time", True, "ps",
       "short screen (not Fu et al.'s protocol): mean over seeds of the time before a Langevin run turned "
       "unphysical (atoms closer than min_distance, T above a factor of the target, non-finite forces); runs that "
       "survive count their length"),
    _m("md_screen_stable_fraction", "MD screen: runs stable to the end", True, None,
       "fraction of the screen's runs that reached their last step", bounds=(0.0, 1.0)),
    _m("md_screen_rdf_mae", "MD screen: RDF error", False, None,
       "mean over bins (0-6 Å, 0.1 Å) of |g_model(r) − g_ref(r)|, screen trajectories of the model and of the "
       "reference calculator from the same start; molecules: unit-area pair-distance histograms"),
    _m("eos_volume_error", "EOS V0 error", False, "Å³/atom",
       "|V0(model) − V0(reference)| per atom from third-order Birch-Murnaghan fits (ASE) of E(V): each calculator "
       "relaxes the cell (ASE UnitCellFilter, BFGS, fmax 0.01 eV/Å), then 11 volumes within ±10 % with atoms relaxed "
       "at each", _ARENA,
       "mlip_arena/tasks/eos.py (commit f649ffe): relax with FrechetCellFilter (BFGSLineSearch), 11 points, ±10 % "
       "volume, atoms relaxed at each, pymatgen BirchMurnaghan; compared with DFT there, with the reference "
       "calculator here", None),
    _m("eos_bulk_modulus_error", "EOS bulk modulus error", False, "GPa",
       "|B0(model) − B0(reference)| from the same fits", _ARENA, "as eos_volume_error", None),
    _m("phonon_dos_error", "phonon DOS error", False, "1/THz",
       "mean over a 0-15 THz grid (0.1 THz) of |g_model − g_ref|, each DOS the 12³-mesh frequencies broadened by "
       "0.2 THz Gaussians and normalised to unit area (the phonon family's convention); phonopy on the fcc "
       "primitive cell relaxed by each calculator, 3×3×3 supercell, 0.01 Å displacements"),
    _m("phonon_max_freq_error", "max phonon frequency error", False, "THz",
       "|ν_max(model) − ν_max(reference)|, ν_max the frequency below which 99 % of the modes lie (phonon family's)"),
    _m("phonon_cv_error", "Cv(300 K) error", False, "%",
       "|Cv_model − Cv_ref| / Cv_ref at 300 K (phonopy, 12³ mesh) in %"),
    _m("phonon_imaginary_modes", "spurious imaginary branches", False, None,
       "branches of the model whose lowest mesh frequency is below −0.05 THz (phonon family's threshold), mean "
       "over systems"),
    _m("nve_energy_drift", "NVE energy drift", False, "meV/atom/ps",
       "|slope| of a least-squares line through the total energy per atom against time over an NVE (velocity "
       "Verlet) run from a test frame with Maxwell-Boltzmann velocities at the task's temperature"),
    _m("diatomic_nonfinite_fraction", "diatomic curves: points without a finite energy or force", False, None,
       "fraction of the dimer-curve points where the model returned a non-finite energy or force (left out of the "
       "other diatomic measures), mean over elements", bounds=(0.0, 1.0)),
    _m("diatomic_force_flips", "diatomic curves: force sign flips", False, None,
       "number of sign changes of the radial force along each homonuclear dimer's curve (|F| < 0.01 eV/Å counts "
       "as zero), mean over elements; 1 for a smooth physical curve", _ARENA,
       "mlip_arena/tasks/diatomics/analysis.py (commit b7d94da) force-flip-times; curve from 0.9 r_cov to "
       "3.1 r_vdW in 0.01 Å steps (diatomics/run.py)", True),
    _m("diatomic_tortuosity", "diatomic curves: tortuosity", False, None,
       "total variation of E(r) over (|E(r_max) − E_min| + |E(r_min) − E_min|), mean over elements; 1 for a "
       "single well", _ARENA, "analysis.py tortuosity (same definition)", True),
    _m("diatomic_energy_jump", "diatomic curves: energy jumps", False, "eV",
       "sum of |ΔE| on both sides of each change of sign of the energy differences (|ΔE| < 1 meV counts as zero), "
       "mean over elements", _ARENA, "analysis.py energy-jump (same definition)", True),
    _m("diatomic_conservation_deviation", "diatomic curves: |F + dE/dr|", False, "eV/Å",
       "mean |F_radial + dE/dr| along the curve (np.gradient), mean over elements: 0 for conservative forces",
       _ARENA, "analysis.py conservation-deviation (same definition)", True),
    _m("diatomic_repulsion_spearman", "diatomic curves: short-range repulsion (Spearman ρ)", False, None,
       "Spearman ρ between r and E(r) inside the energy minimum, mean over elements: −1 when the energy rises "
       "monotonically as the atoms approach", _ARENA, "analysis.py spearman-repulsion-energy (same definition)",
       True, (-1.0, 1.0)),
    # DFT-relaxed cells (CDVAE's Perov-5, Carbon-24): forces should vanish, energies rank as DFT's
    _m("residual_force_rms", "residual force RMS on DFT-relaxed cells", False, "meV/Å",
       "RMS over all Cartesian force components on DFT-relaxed cells (0 for a potential with DFT's minima)"),
    _m("residual_force_max", "largest residual force on DFT-relaxed cells", False, "meV/Å",
       "largest per-atom force length on the DFT-relaxed cells"),
    _m("residual_pressure", "residual pressure on DFT-relaxed cells", False, "GPa",
       "mean | −tr(σ)/3 − P_DFT | over the cells"),
    _m("energy_spearman", "energy ranking vs DFT (Spearman ρ, referenced)", True, None,
       "Spearman ρ between DFT's energies per atom and the model's after element references cross-fitted on "
       "other folds", bounds=(-1.0, 1.0)),
    _m("energy_spearman_raw", "energy ranking vs DFT (Spearman ρ, per-atom energy as is)", True, None,
       "Spearman ρ between DFT's energies per atom and the model's raw energies per atom", bounds=(-1.0, 1.0)),
    _m("composition_baseline_spearman", "composition-only ranking vs DFT (Spearman ρ)", True, None,
       "Spearman ρ of element references alone (what energy_spearman has to beat)", bounds=(-1.0, 1.0)),
    _m("relaxed_energy_mae", "energy MAE vs DFT after element references", False, "meV/atom",
       "mean |E_model,referenced − E_DFT| per atom on the DFT-relaxed cells"),
):
    register_metric(_info)


def energy_errors_per_atom(e_true: ArrayLike, e_pred: ArrayLike, n_atoms: ArrayLike) -> tuple[float, float]:
    """(MAE, RMSE) of total-energy errors divided by each structure's number of atoms, in meV/atom."""
    t, p, n = (np.asarray(x, dtype=float).ravel() for x in (e_true, e_pred, n_atoms))
    d = (p - t) / n * 1e3
    return float(np.mean(np.abs(d))), float(np.sqrt(np.mean(d**2)))


def energy_errors_per_structure(e_true: ArrayLike, e_pred: ArrayLike) -> tuple[float, float]:
    """(MAE, RMSE) of total energies over structures, in meV per structure (the rMD17/MACE figure)."""
    t, p = (np.asarray(x, dtype=float).ravel() for x in (e_true, e_pred))
    if t.shape != p.shape:
        raise ValueError(f"{t.size} reference energies, {p.size} predicted")
    d = (p - t) * 1e3
    return float(np.mean(np.abs(d))), float(np.sqrt(np.mean(d**2)))


def force_errors(f_true: ArrayLike, f_pred: ArrayLike) -> tuple[float, float]:
    """(MAE, RMSE) over all Cartesian force components, in meV/Å."""
    t = np.asarray(f_true, dtype=float).reshape(-1)
    p = np.asarray(f_pred, dtype=float).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"{t.size} reference force components, {p.size} predicted")
    d = (p - t) * 1e3
    return float(np.mean(np.abs(d))), float(np.sqrt(np.mean(d**2)))


def sciml_force_errors(f_true: Sequence[ArrayLike], f_pred: Sequence[ArrayLike]) -> dict[str, float]:
    """SciML-Bench's force angle and magnitude errors over structures.

    ``f_true``/``f_pred``: one (n_atoms, 3) array per structure, eV/Å. Per atom (stfc-sciml/
    sciml-bench commit 3fbaaa0c2ce1adafd3c831e20d39c4a292743a42, benchmarks/science/hydronet/utils/
    infer.py): angle error θ/π with θ = arccos(F̂·F / ‖F̂‖‖F‖) (unitless, 0 to 1), magnitude error
    ‖F̂‖ − ‖F‖. Per structure: the mean of |·| (MAE) and of its square (MSE); then the mean over
    structures. Returns ``sciml_force_angle_mae``, ``sciml_force_angle_mse`` (unitless),
    ``sciml_force_magnitude_mae`` (meV/Å) and ``sciml_force_magnitude_mse`` ((meV/Å)²).

    The reference code divides by the force lengths without a guard (a zero-length force gives
    NaN); here such atoms are left out of the angle (and a structure with none left is skipped),
    and the cosine is clipped to [-1, 1] against rounding.
    """
    if len(f_true) != len(f_pred):
        raise ValueError(f"{len(f_true)} reference structures, {len(f_pred)} predicted")
    keys = ("sciml_force_angle_mae", "sciml_force_angle_mse", "sciml_force_magnitude_mae", "sciml_force_magnitude_mse")
    per: dict[str, list[float]] = {k: [] for k in keys}
    for t_, p_ in zip(f_true, f_pred):
        t = np.asarray(t_, dtype=float).reshape(-1, 3)
        p = np.asarray(p_, dtype=float).reshape(-1, 3)
        if t.shape != p.shape:
            raise ValueError(f"a structure has {len(t)} reference force vectors and {len(p)} predicted")
        nt, np_ = np.linalg.norm(t, axis=1), np.linalg.norm(p, axis=1)
        mag = (np_ - nt) * 1e3
        per["sciml_force_magnitude_mae"].append(float(np.mean(np.abs(mag))))
        per["sciml_force_magnitude_mse"].append(float(np.mean(mag**2)))
        ok = (nt > 0) & (np_ > 0)
        if ok.any():
            cos = np.einsum("ij,ij->i", t[ok], p[ok]) / (nt[ok] * np_[ok])
            ang = np.arccos(np.clip(cos, -1.0, 1.0)) / np.pi
            per["sciml_force_angle_mae"].append(float(np.mean(np.abs(ang))))
            per["sciml_force_angle_mse"].append(float(np.mean(ang**2)))
    return {k: float(np.mean(v)) if v else float("nan") for k, v in per.items()}


def _vectors(f_true: ArrayLike, f_pred: ArrayLike, min_force: float):
    t = np.asarray(f_true, dtype=float).reshape(-1, 3)
    p = np.asarray(f_pred, dtype=float).reshape(-1, 3)
    nt = np.linalg.norm(t, axis=1)
    keep = nt > min_force
    return t[keep], p[keep], nt[keep]


def force_angle_deg(f_true: ArrayLike, f_pred: ArrayLike, min_force: float = 0.05) -> float:
    """Mean angle (degrees) between predicted and reference force vectors, pooled over the atoms
    with |F_ref| > ``min_force`` eV/Å (the project's variant of SciML-Bench's angle error)."""
    t, p, nt = _vectors(f_true, f_pred, min_force)
    if not len(t):
        return float("nan")
    np_ = np.linalg.norm(p, axis=1)
    cos = np.einsum("ij,ij->i", t, p) / (nt * np.where(np_ > 0, np_, np.inf))
    return float(np.degrees(np.arccos(np.clip(np.where(np_ > 0, cos, 0.0), -1.0, 1.0))).mean())


def force_magnitude_rel_error(f_true: ArrayLike, f_pred: ArrayLike, min_force: float = 0.05) -> float:
    """Mean relative error of force lengths, | |F_pred| - |F_ref| | / |F_ref|, in percent, pooled
    over the atoms with |F_ref| > ``min_force`` eV/Å."""
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


def nve_energy_drift(times_ps: ArrayLike, e_total: ArrayLike, n_atoms: int) -> float:
    """|slope| (meV/atom/ps) of the least-squares line of the total energy per atom (eV) over time."""
    t, e = np.asarray(times_ps, float), np.asarray(e_total, float) / float(n_atoms) * 1e3
    if len(t) < 2 or not np.isfinite(e).all():
        return float("inf") if len(t) >= 2 else float("nan")
    return float(abs(np.polyfit(t, e, 1)[0]))


def diatomic_curve_metrics(rs: ArrayLike, es: ArrayLike, fs: ArrayLike) -> dict[str, float]:
    """MLIP Arena's smoothness and repulsion measures of one dimer curve (atomind-ai/mlip-arena
    commit b7d94da6f6714e3155ef0f3b36b19c92e1f5be02, mlip_arena/tasks/diatomics/analysis.py).

    ``rs`` (Å), ``es`` (eV), ``fs`` radial force on the second atom along the bond (eV/Å). Sorted
    by decreasing r and energies shifted to the far-field value, as there. Points where the model
    gave a non-finite energy or force are left out first (MLIP Arena's curves have none); the
    task records how many (``diatomic_nonfinite_fraction``).
    """
    from scipy import stats

    r, e, f = (np.asarray(x, dtype=float) for x in (rs, es, fs))
    ok = np.isfinite(r) & np.isfinite(e) & np.isfinite(f)
    r, e, f = r[ok], e[ok], f[ok]
    if len(r) < 3:
        return {k: float("nan") for k in ("diatomic_force_flips", "diatomic_tortuosity", "diatomic_energy_jump",
                                          "diatomic_conservation_deviation", "diatomic_repulsion_spearman")}
    order = np.argsort(r)[::-1]
    r, e, f = r[order], e[order] - e[order][0], f[order]
    imine = int(np.argmin(e))
    de_dr = np.gradient(e, r)
    rf = f.copy()
    rf[np.abs(rf) < 1e-2] = 0
    sign = np.sign(rf)
    sign = sign[sign != 0]
    flips = int(np.sum(np.diff(sign) != 0))
    ediff = np.diff(e)
    ediff[np.abs(ediff) < 1e-3] = 0
    esign = np.sign(ediff)
    keep = esign != 0
    ediff, esign = ediff[keep], esign[keep]
    eflip = np.diff(esign) != 0
    ejump = float(np.abs(ediff[:-1][eflip]).sum() + np.abs(ediff[1:][eflip]).sum())
    etv = float(np.sum(np.abs(np.diff(e))))
    denom = abs(e[0] - e.min()) + (e[-1] - e.min())
    rep = stats.spearmanr(r[imine:], e[imine:]).statistic if len(r) - imine >= 2 else float("nan")
    return {"diatomic_force_flips": float(flips), "diatomic_tortuosity": etv / denom if denom > 0 else float("nan"),
            "diatomic_energy_jump": ejump, "diatomic_conservation_deviation": float(np.mean(np.abs(f + de_dr))),
            "diatomic_repulsion_spearman": float(rep)}


def diatomic_distances(symbol: str, rstep: float = 0.01) -> np.ndarray:
    """MLIP Arena's grid (diatomics/run.py): 0.9 x covalent radius to 3.1 x van der Waals radius
    (Alvarez; 6 Å when unknown), ``int((rmax - rmin) / rstep)`` points."""
    from ase.data import atomic_numbers, covalent_radii, vdw_alvarez

    z = atomic_numbers[symbol]
    rmin = 0.9 * covalent_radii[z]
    rvdw = vdw_alvarez.vdw_radii[z] if z < len(vdw_alvarez.vdw_radii) else np.nan
    rmax = 3.1 * rvdw if np.isfinite(rvdw) else 6.0
    return np.linspace(rmin, rmax, int((rmax - rmin) / rstep))


# ------------------------------------------------------------- MD stability after Fu et al.
#: MDsim's settings (kyonofx/MDsim commit 61ca2cfba373fd374343592556789fa30fbe3b56, observable.ipynb)
MDSIM_BOND_THRESHOLD = 0.5  # Å
MDSIM_HR_XLIM = 10.0  # Å
MDSIM_HR_BINS = np.linspace(1e-6, MDSIM_HR_XLIM, 500 + 1)


def bond_pairs(atoms) -> np.ndarray:
    """(n_bonds, 2) atom pairs i < j bonded by ASE's natural cutoffs (covalent radii), as MDsim
    finds them on the first frame of a run (``NeighborList(natural_cutoffs(atoms))``)."""
    from ase.neighborlist import NeighborList, natural_cutoffs

    nl = NeighborList(natural_cutoffs(atoms), self_interaction=False, bothways=True)
    nl.update(atoms)
    i, j = nl.get_connectivity_matrix().nonzero()
    keep = i < j
    return np.stack([i[keep], j[keep]], axis=1)


def bond_lengths(positions: ArrayLike, pairs: ArrayLike) -> np.ndarray:
    """Bond lengths (T, n_bonds) in Å of a (T, N, 3) trajectory of a molecule (no periodic images)."""
    x = np.asarray(positions, dtype=float)
    x = x[None] if x.ndim == 2 else x
    p = np.asarray(pairs, dtype=int).reshape(-1, 2)
    return np.linalg.norm(x[:, p[:, 0]] - x[:, p[:, 1]], axis=-1)


def mdsim_collapse_point(positions: ArrayLike, pairs: ArrayLike, ref_mean_lengths: ArrayLike,
                         threshold: float = MDSIM_BOND_THRESHOLD) -> int:
    """MDsim's ``collapse_pt`` of a recorded trajectory (T frames): one more than the index of the
    first frame where some bond deviates by more than ``threshold`` Å from its reference mean, or
    T when none does among frames 0..T-2 (MDsim's loop does not check the last frame). The stable
    time is ``(collapse_pt - 1) × recording interval``."""
    d = bond_lengths(positions, pairs)
    dev = np.abs(d - np.asarray(ref_mean_lengths, float)[None]).max(axis=1) if d.shape[1] else np.zeros(len(d))
    for i in range(1, len(d)):
        if dev[i - 1] > threshold:
            return i
    return len(d)


def distance_histogram(positions: ArrayLike, bins: ArrayLike = MDSIM_HR_BINS) -> np.ndarray:
    """h(r): the normalised histogram (density, 1/Å) of all interatomic distances of a (T, N, 3)
    trajectory on ``bins`` (MDsim's ``get_hr``; its zero self-distances fall below the first bin)."""
    x = np.asarray(positions, dtype=float)
    x = x[None] if x.ndim == 2 else x
    edges = np.asarray(bins, float)
    iu = np.triu_indices(x.shape[1], 1)
    counts = np.zeros(len(edges) - 1)
    for a in range(0, len(x), 2000):  # chunks: rMD17 has 100,000 frames
        c = x[a:a + 2000]
        d = np.linalg.norm(c[:, iu[0]] - c[:, iu[1]], axis=-1).ravel()
        counts += np.histogram(d, edges)[0]
    total = counts.sum()
    # np.histogram's density: counts / (counts in range) / bin width
    return counts / total / np.diff(edges) if total > 0 else counts


def hr_error(h_pred: ArrayLike, h_ref: ArrayLike, xlim: float = MDSIM_HR_XLIM) -> float:
    """MDsim's h(r) error: mean |Δh| over the bins times the range ``xlim`` (≈ ∫|Δh| dr)."""
    return float(np.mean(np.abs(np.asarray(h_pred, float) - np.asarray(h_ref, float))) * xlim)


def t_ci95_halfwidth(values: ArrayLike) -> float:
    """Half-width of the two-sided 95 % t confidence interval of the mean (NaN for fewer than 2)."""
    from scipy.stats import t

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float("nan")
    return float(t.ppf(0.975, len(v) - 1) * np.std(v, ddof=1) / np.sqrt(len(v)))


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
