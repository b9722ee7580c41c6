"""The potentials task's metrics from its stored predictions, one function per kind of row.

A job's predictions hold one row per test frame (``kind == "frame"``) and rows of the checks in
use (``md``, ``eos``, ``phonon``, ``nve``, ``diatomic``); ``score_predictions`` recomputes every
metric from them (what ``rescore`` does with stored predictions). The metric functions
themselves are in ``metrics.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from matscibench.families.potentials import metrics as PM

__all__ = [
    "SCIML_METRICS",
    "FRAME_METRICS",
    "MD_SCREEN_METRICS",
    "MD_MDSIM_METRICS",
    "EOS_METRICS",
    "NVE_METRICS",
    "DIATOMIC_METRICS",
    "PHONON_METRICS",
    "frame_metrics",
    "score_frames",
    "md_metrics",
    "eos_metrics",
    "phonon_metrics",
    "diatomic_metrics",
    "score_predictions",
]

SCIML_METRICS = ("sciml_force_angle_mae", "sciml_force_angle_mse", "sciml_force_magnitude_mae", "sciml_force_magnitude_mse")
FRAME_METRICS = ("force_mae", "energy_mae_per_atom", "force_rmse", "energy_rmse_per_atom", "energy_mae_per_structure",
                 "energy_rmse_per_structure", "stress_mae", *SCIML_METRICS, "force_angle_deg", "force_magnitude_rel_error")
MD_SCREEN_METRICS = ("md_screen_stable_time", "md_screen_stable_fraction", "md_screen_rdf_mae")
MD_MDSIM_METRICS = ("md_stable_time", "md_stable_time_ci95", "md_stable_fraction", "md_n_seeds", "hr_error")
EOS_METRICS = ("eos_volume_error", "eos_bulk_modulus_error")
NVE_METRICS = ("nve_energy_drift",)
DIATOMIC_METRICS = ("diatomic_nonfinite_fraction", "diatomic_force_flips", "diatomic_tortuosity", "diatomic_energy_jump",
                    "diatomic_conservation_deviation", "diatomic_repulsion_spearman")
PHONON_METRICS = ("phonon_dos_error", "phonon_max_freq_error", "phonon_cv_error", "phonon_imaginary_modes")


def frame_metrics(energy_per: str = "atom", energy_first: bool = False) -> tuple[str, ...]:
    """The frame metrics in report order: force MAE, then the energy MAE per ``energy_per``
    (``"structure"``: meV, the headline for molecules; ``"atom"``: meV/atom, for periodic cells),
    then the other errors. ``energy_first``: the energy MAE is the primary metric (test sets
    without forces, e.g. dihedral scans)."""
    if energy_per not in ("atom", "structure"):
        raise ValueError(f"energy_per must be 'atom' or 'structure', got {energy_per!r}")
    other = "structure" if energy_per == "atom" else "atom"
    head = [f"energy_mae_per_{energy_per}", "force_mae"] if energy_first else ["force_mae", f"energy_mae_per_{energy_per}"]
    rest = ["force_rmse", f"energy_rmse_per_{energy_per}", f"energy_mae_per_{other}", f"energy_rmse_per_{other}",
            "stress_mae", *SCIML_METRICS, "force_angle_deg", "force_magnitude_rel_error"]
    return tuple(head + rest)


def _force_errors(pred: pd.DataFrame) -> dict[str, float]:
    """Force errors over the frames with force labels (NaN when none has)."""
    has_f = [x is not None and not (isinstance(x, float) and math.isnan(x)) and len(x) > 0 for x in pred["forces_true"]]
    ft_list = [np.asarray(x, float).reshape(-1, 3) for x, h in zip(pred["forces_true"], has_f) if h]
    fp_list = [np.asarray(x, float).reshape(-1, 3) for x, h in zip(pred["forces_pred"], has_f) if h]
    nan = float("nan")
    if ft_list:
        ft, fp = np.concatenate(ft_list), np.concatenate(fp_list)
        f_mae, f_rmse = PM.force_errors(ft, fp)
        sciml = PM.sciml_force_errors(ft_list, fp_list)
        ang, mag = PM.force_angle_deg(ft, fp), PM.force_magnitude_rel_error(ft, fp)
    else:
        f_mae = f_rmse = ang = mag = nan
        sciml = {k: nan for k in SCIML_METRICS}
    return {"force_mae": f_mae, "force_rmse": f_rmse, "sciml": sciml, "force_angle_deg": ang,
            "force_magnitude_rel_error": mag}


def _stress_mae(pred: pd.DataFrame) -> float:
    if "stress_true" in pred and pred["stress_true"].notna().any():
        rows = pred["stress_true"].notna() & pred["stress_pred"].notna()
        st = np.stack([np.asarray(x, float) for x in pred.loc[rows, "stress_true"]]) if rows.any() else np.empty((0, 6))
        sp = np.stack([np.asarray(x, float) for x in pred.loc[rows, "stress_pred"]]) if rows.any() else np.empty((0, 6))
        return PM.stress_mae(st, sp) if rows.any() else float("nan")
    return float("nan")


def score_frames(pred: pd.DataFrame) -> dict[str, float]:
    """Errors of the frame predictions; frames without force labels (energy-only test sets such
    as dihedral scans) count for the energy errors only."""
    n = pred["n_atoms"].to_numpy(dtype=float)
    e_mae, e_rmse = PM.energy_errors_per_atom(pred["energy_true"], pred["energy_pred"], n)
    es_mae, es_rmse = PM.energy_errors_per_structure(pred["energy_true"], pred["energy_pred"])
    f = _force_errors(pred)
    return {
        "force_mae": f["force_mae"],
        "energy_mae_per_atom": e_mae,
        "force_rmse": f["force_rmse"],
        "energy_rmse_per_atom": e_rmse,
        "energy_mae_per_structure": es_mae,
        "energy_rmse_per_structure": es_rmse,
        "stress_mae": _stress_mae(pred),
        **f["sciml"],
        "force_angle_deg": f["force_angle_deg"],
        "force_magnitude_rel_error": f["force_magnitude_rel_error"],
    }


def md_metrics(md: pd.DataFrame) -> dict[str, float]:
    """MD stability: Fu et al.'s protocol (rows with ``md_protocol == "mdsim"``) or the screen."""
    if "md_protocol" in md and (md["md_protocol"] == "mdsim").any():
        m = md[md["md_protocol"] == "mdsim"]
        ps = m["md_stable_ps"].to_numpy(float)
        out = {"md_stable_time": float(np.mean(ps)), "md_stable_time_ci95": PM.t_ci95_halfwidth(ps),
               "md_stable_fraction": float(np.mean(m["md_collapsed"].to_numpy(float) == 0)),
               "md_n_seeds": float(len(m))}
        # h(r) of all seeds' frames up to their collapse: counts pooled, as one histogram
        counts = np.sum([np.asarray(h, float) * n for h, n in zip(m["hr_model"], m["hr_n_frames"])], axis=0)
        if np.sum(counts) > 0:
            counts = counts / np.sum(m["hr_n_frames"].to_numpy(float))
            out["hr_error"] = PM.hr_error(counts, np.asarray(m["hr_ref"].iloc[0], float))
        return out
    steps = md["md_stable_steps"].to_numpy(float)
    total = md["md_steps"].to_numpy(float)
    out = {
        "md_screen_stable_time": PM.md_stable_time(steps, float(md["md_timestep_fs"].iloc[0])),
        "md_screen_stable_fraction": float(np.mean(steps >= total)),
    }
    if "rdf_model" in md and md["rdf_ref"].notna().all():
        g_m = np.mean([np.asarray(x, float) for x in md["rdf_model"]], axis=0)
        g_r = np.mean([np.asarray(x, float) for x in md["rdf_ref"]], axis=0)
        out["md_screen_rdf_mae"] = PM.rdf_mae(g_m, g_r)
    return out


def eos_metrics(eos: pd.DataFrame) -> dict[str, float]:
    """V0 (per atom) and B0 errors of Birch-Murnaghan fits of the model's and the reference's E(V)."""
    dv, db = [], []
    for _, r in eos.iterrows():
        vols = np.asarray(r["eos_volumes"], float)
        vols_ref = np.asarray(r["eos_volumes_ref"], float) if "eos_volumes_ref" in r and r["eos_volumes_ref"] is not None \
            else vols
        n = float(r["n_atoms"])
        try:
            vm, _, bm = PM.birch_murnaghan_fit(vols, np.asarray(r["eos_e_model"], float))
            vr, _, br = PM.birch_murnaghan_fit(vols_ref, np.asarray(r["eos_e_ref"], float))
        except Exception:
            dv.append(float("inf"))
            db.append(float("inf"))
            continue
        dv.append(abs(vm - vr) / n)
        db.append(abs(bm - br))
    return {"eos_volume_error": float(np.mean(dv)), "eos_bulk_modulus_error": float(np.mean(db))}


def phonon_metrics(ph: pd.DataFrame) -> dict[str, float]:
    """Errors of the phonon check (DOS, maximum frequency, Cv(300 K)) and the model's imaginary branches."""
    dos_err, fmax_err, cv_err, imag = [], [], [], []
    for _, r in ph.iterrows():
        gm, gr = np.asarray(r["dos_model"], float), np.asarray(r["dos_ref"], float)
        dos_err.append(float(np.mean(np.abs(gm - gr))))
        fmax_err.append(abs(float(r["max_freq_model"]) - float(r["max_freq_ref"])))
        cv_err.append(abs(float(r["cv_model"]) - float(r["cv_ref"])) / float(r["cv_ref"]) * 100.0)
        imag.append(float(r["imag_model"]))
    return {
        "phonon_dos_error": float(np.mean(dos_err)),
        "phonon_max_freq_error": float(np.mean(fmax_err)),
        "phonon_cv_error": float(np.mean(cv_err)),
        "phonon_imaginary_modes": float(np.mean(imag)),
    }


def diatomic_metrics(di: pd.DataFrame) -> dict[str, float]:
    """MLIP Arena's dimer-curve measures, mean over elements (NaN where no element has a value)."""
    per = []
    for _, r in di.iterrows():
        m = PM.diatomic_curve_metrics(r["dimer_r"], r["dimer_e"], r["dimer_f"])
        e, f = np.asarray(r["dimer_e"], float), np.asarray(r["dimer_f"], float)
        m["diatomic_nonfinite_fraction"] = float(np.mean(~(np.isfinite(e) & np.isfinite(f))))
        per.append(m)
    with np.errstate(all="ignore"):
        return {k: float(np.nanmean([p[k] for p in per])) if np.isfinite([p[k] for p in per]).any()
                else float("nan") for k in DIATOMIC_METRICS}


def score_predictions(predictions: pd.DataFrame) -> dict[str, float]:
    """Every metric the rows of ``predictions`` give (frames, then each check in use)."""
    kind = predictions["kind"] if "kind" in predictions else pd.Series("frame", index=predictions.index)
    frames = predictions[kind == "frame"]
    out = score_frames(frames) if len(frames) else {}
    md = predictions[kind == "md"]
    if len(md):
        out.update(md_metrics(md))
    eos = predictions[kind == "eos"]
    if len(eos):
        out.update(eos_metrics(eos))
    ph = predictions[kind == "phonon"]
    if len(ph):
        out.update(phonon_metrics(ph))
    nve = predictions[kind == "nve"]
    if len(nve):
        r = nve.iloc[0]
        out["nve_energy_drift"] = PM.nve_energy_drift(r["nve_times_ps"], r["nve_e_total"], int(r["n_atoms"]))
    di = predictions[kind == "diatomic"]
    if len(di):
        out.update(diatomic_metrics(di))
    return out
