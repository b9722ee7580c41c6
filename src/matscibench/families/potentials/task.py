"""Interatomic potentials: errors on labelled frames, physics in use, and cost.

The model is an ASE ``Calculator`` (energy, forces, stress); trainable ones add
``fit(list[Atoms], on_epoch=None)``, reading labels from ``atoms.info["energy"]`` (eV),
``atoms.arrays["forces"]`` (eV/Å) and ``atoms.info["stress"]`` (eV/Å³, Voigt, ASE's sign). A job:

1. ``load``: frames of the dataset, split into training and test frames (random K-fold; a fixed
   split by group, e.g. the BOTNet/MACE protocols: one task per test set; or published index
   files, rMD17's 5 x 1,000/1,000);
2. ``fit``: the model's ``fit`` on the training frames (skipped for calculators without one);
   ``on_epoch`` validation values are force MAEs in meV/Å;
3. ``predict``: energy, forces (and stress for periodic cells) of every test frame, compared with
   the labels: energy MAE/RMSE per structure (meV; the headline for molecules, as rMD17 and MACE
   report it) and per atom (meV/atom; the headline for periodic cells), force MAE/RMSE per
   component, stress MAE, SciML-Bench's force angle and magnitude errors and the project's
   variants; energy-only test frames (dihedral scans, reaction paths) count for energies only;
4. ``md``: either Fu et al.'s stability protocol (``md.protocol = "mdsim"``: Nosé-Hoover at 500 K,
   0.5 fs, 300 ps, unstable when a bond leaves its reference mean by > 0.5 Å; h(r) error against
   the dataset; ``md_stable_time`` with a CI over seeds), or a short screen (``"screen"``, named
   ``md_screen_*``: Langevin runs until two atoms come closer than ``md.min_distance`` Å, the
   temperature exceeds ``md.max_temperature_factor`` x target or forces turn non-finite, and the
   RDF against the reference calculator's run);
5. ``eos`` (periodic data): each calculator relaxes each system's cell, then E(V) at 11 volumes
   (±10 %) with atoms relaxed at each (MLIP Arena's EOS); errors of the Birch-Murnaghan V0, B0;
6. ``phonons`` (periodic data): phonopy on the fcc primitive cell of each elemental system, as
   relaxed by each calculator (3x3x3 supercell, 0.01 Å displacements); DOS, maximum frequency,
   imaginary branches with the phonon family's conventions, and Cv(300 K);
7. ``scaling``: the time of one energy+forces call against system size (replicated cells, or
   boxes of molecules) until a call takes ``scaling.budget_s``; the fitted exponent is reported.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from matscibench.cost.meters import latency_percentiles, peak_rss_mib, peak_rss_reset
from matscibench.data.splits import kfold_indices, split_hash
from matscibench.errors import ModelOutputError
from matscibench.metrics import potential as PM
from matscibench.models.base import EpochCallback
from matscibench.families.base import DatasetTask, JobContext, TaskOutput

__all__ = ["PotentialTask", "RelaxedCellsTask", "reference_calculator", "register_tasks"]


SCIML_METRICS = ("sciml_force_angle_mae", "sciml_force_angle_mse", "sciml_force_magnitude_mae", "sciml_force_magnitude_mse")
FRAME_METRICS = ("force_mae", "energy_mae_per_atom", "force_rmse", "energy_rmse_per_atom", "energy_mae_per_structure",
                 "energy_rmse_per_structure", "stress_mae", *SCIML_METRICS, "force_angle_deg", "force_magnitude_rel_error")


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
MD_SCREEN_METRICS = ("md_screen_stable_time", "md_screen_stable_fraction", "md_screen_rdf_mae")
MD_MDSIM_METRICS = ("md_stable_time", "md_stable_time_ci95", "md_stable_fraction", "md_n_seeds", "hr_error")
#: Fu et al.'s MD17 protocol (kyonofx/MDsim@61ca2cf, configs/simulate/*.yml): 300 ps at 500 K,
#: Nosé-Hoover (ttime 20 steps), 0.5 fs, frames every 100 steps; run in the first fold only
MDSIM_MD = {"protocol": "mdsim", "temperature_K": 500.0, "timestep_fs": 0.5, "steps": 600_000, "seeds": 5,
            "save_every": 100, "ttime": 20.0, "folds": [0]}
EOS_METRICS = ("eos_volume_error", "eos_bulk_modulus_error")
NVE_METRICS = ("nve_energy_drift",)
DIATOMIC_METRICS = ("diatomic_nonfinite_fraction", "diatomic_force_flips", "diatomic_tortuosity", "diatomic_energy_jump",
                    "diatomic_conservation_deviation", "diatomic_repulsion_spearman")
PHONON_METRICS = ("phonon_dos_error", "phonon_max_freq_error", "phonon_cv_error", "phonon_imaginary_modes")


def reference_calculator(name: str, periodic: bool = True):
    """The calculator that made the labels: ``emt`` or ``gfn2-xtb``."""
    if name == "emt":
        if periodic:
            from matscibench.data.emt import _FastEMT

            return _FastEMT()
        from ase.calculators.emt import EMT

        return EMT()
    if name == "gfn2-xtb":
        from tblite.ase import TBLite

        return TBLite(method="GFN2-xTB", verbosity=0)
    raise ValueError(f"no reference calculator named {name!r}")


def _clean(frame):
    """A copy without labels or calculator (what a model is given)."""
    from ase import Atoms

    return Atoms(numbers=frame.numbers, positions=frame.positions, cell=frame.cell, pbc=frame.pbc)


def _supports_stress(model: Any) -> bool:
    props = getattr(model, "implemented_properties", None)
    return props is None or "stress" in props


class PotentialTask(DatasetTask):
    """Evaluate an interatomic potential (an ASE calculator) on a frames dataset.

    Parameters
    ----------
    dataset, dataset_params: the frames (registry name and parameters).
    split: ``"random"`` (``n_folds`` folds over frames) or ``"groups"`` (one fold: training on
        ``train_groups``, testing on ``test_groups``).
    max_train: at most this many training frames (evenly spaced), for quick suites.
    reference: the calculator that made the labels (``emt``, ``gfn2-xtb``) for the in-use
        comparisons; None skips them.
    md: None, or ``{"protocol": "screen", "temperature_K", "timestep_fs", "steps", "seeds",
        "min_distance", "max_temperature_factor", "sample_every"}`` (the short screen), or
        ``{"protocol": "mdsim", "temperature_K", "timestep_fs", "steps", "seeds", "save_every",
        "ttime", "folds"}`` (Fu et al.; defaults ``MDSIM_MD``; run in ``folds`` only).
    eos, phonons: run those checks (periodic data only).
    scaling: ``{"max_atoms", "budget_s", "repeats"}`` or None.
    nve: ``{"steps", "timestep_fs", "temperature_K", "every"}`` or None: an NVE run (velocity
        Verlet) from the first test frame; its total-energy drift in meV/atom/ps.
    diatomics: True or ``{"rstep", "elements"}``: homonuclear dimer curves of the dataset's
        elements on MLIP Arena's grid, scored with its smoothness and repulsion measures.
    target_value: time-to-target threshold on the force MAE (meV/Å).
    energy_per: ``"structure"`` (molecules: energy MAE in meV per structure, as rMD17 and MACE
        report it) or ``"atom"`` (periodic cells: meV/atom) comes right after the force MAE; both
        are always computed. ``energy_first``: the energy MAE is the primary metric.
    """

    family = "potentials"
    unit = "meV/Å"

    def __init__(
        self,
        name: str,
        dataset: str,
        *,
        dataset_params: dict[str, Any] | None = None,
        split: str = "random",
        n_folds: int = 5,
        fold_seed: int = 0,
        train_groups: list[str] | None = None,
        test_groups: list[str] | None = None,
        max_train: int | None = None,
        max_test: int | None = None,
        reference: str | None = None,
        md: dict[str, Any] | None = None,
        eos: bool = False,
        phonons: bool = False,
        scaling: dict[str, Any] | None = None,
        target_value: float | None = None,
        energy_per: str = "atom",
        energy_first: bool = False,
        index_files: list[tuple[str, str]] | None = None,
        fallback_sizes: tuple[int, int] = (1000, 1000),
        nve: dict[str, Any] | None = None,
        diatomics: bool | dict[str, Any] = False,
        description: str = "",
    ) -> None:
        if split not in ("random", "groups", "index_files"):
            raise ValueError(f"split must be 'random', 'groups' or 'index_files', got {split!r}")
        if split == "index_files" and not index_files:
            raise ValueError("split='index_files' needs index_files: [(train_relpath, test_relpath), ...]")
        if split == "groups" and not (train_groups and test_groups):
            raise ValueError("split='groups' needs train_groups and test_groups")
        self.name = name
        self.dataset_name = dataset
        self.dataset_params = dict(dataset_params or {})
        self.split = split
        self.index_files = [tuple(x) for x in (index_files or [])]
        self.fallback_sizes = (int(fallback_sizes[0]), int(fallback_sizes[1]))
        self.split_source = split
        self._n_folds = int(n_folds) if split == "random" else len(self.index_files) if split == "index_files" else 1
        self.fold_seed = int(fold_seed)
        self.train_groups = list(train_groups or [])
        self.test_groups = list(test_groups or [])
        self.max_train = max_train
        self.max_test = max_test
        self.reference = reference
        self.md = dict(md) if md else None
        self.eos = bool(eos)
        self.phonons = bool(phonons)
        self.scaling = dict(scaling) if scaling else None
        self.target = target_value
        self.target_metric_name = "force_mae"
        self.description = description or f"interatomic potential on {dataset}"
        self.energy_per = energy_per
        metrics = list(frame_metrics(energy_per, energy_first))
        if self.md:
            protocol = self.md.get("protocol", "screen")
            if protocol not in ("screen", "mdsim"):
                raise ValueError(f"md protocol must be 'screen' or 'mdsim', got {protocol!r}")
            if protocol == "mdsim":
                metrics += MD_MDSIM_METRICS
            else:
                metrics += MD_SCREEN_METRICS if reference else MD_SCREEN_METRICS[:2]
        self.nve = dict(nve) if nve else None
        self.diatomics = ({} if diatomics is True else dict(diatomics)) if diatomics else None
        if self.nve:
            metrics += NVE_METRICS
        if self.diatomics is not None:
            metrics += DIATOMIC_METRICS
        if self.eos and reference:
            metrics += EOS_METRICS
        if self.phonons and reference:
            metrics += PHONON_METRICS
        self.metrics = tuple(metrics)
        self.citation = getattr(self.spec, "citation", "")

    def folds(self, ds) -> list[tuple[np.ndarray, np.ndarray]]:
        n = len(ds)
        if self.split == "random":
            folds = kfold_indices(n, self._n_folds, self.fold_seed)
        elif self.split == "index_files":
            folds = self._index_folds(n)
        else:
            groups = np.asarray(ds.groups)
            train = np.nonzero(np.isin(groups, self.train_groups))[0]
            test = np.nonzero(np.isin(groups, self.test_groups))[0]
            missing = sorted(set(self.train_groups + self.test_groups) - set(groups.tolist()))
            if missing:
                raise KeyError(f"dataset {ds.name} has no frames in group(s) {missing}; groups: {sorted(set(groups))}")
            folds = [(train, test)]
        out = []
        for tr, te in folds:
            if self.max_train and len(tr) > self.max_train:
                tr = tr[np.linspace(0, len(tr) - 1, self.max_train).round().astype(int)]
            if self.max_test and len(te) > self.max_test:
                te = te[np.linspace(0, len(te) - 1, self.max_test).round().astype(int)]
            out.append((tr, te))
        return out

    def _index_folds(self, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Published split files (rMD17: ``rmd17/splits/index_{train,test}_0k.csv``, one 0-based frame
        index a line, read as schnetpack does: ``np.loadtxt(f).flatten().astype(int)``, schnetpack
        src/schnetpack/datasets/rmd17.py) when they are found under ``$MATSCIBENCH_DATA``; otherwise
        seeded random draws of ``fallback_sizes`` (train, test) frames per fold, and ``split_source``
        (in the job's info) says so."""
        from matscibench.data.cache import find_local

        paths = [(find_local(tr), find_local(te)) for tr, te in self.index_files]
        if all(a is not None and b is not None for a, b in paths):
            folds = []
            for a, b in paths:
                tr = np.loadtxt(a).flatten().astype(int)
                te = np.loadtxt(b).flatten().astype(int)
                if tr.max(initial=-1) >= n or te.max(initial=-1) >= n:
                    raise ValueError(f"{a} / {b} index frame {max(tr.max(), te.max())} but the dataset has {n} "
                                     "frames; load the dataset whole (max_frames=None)")
                folds.append((tr, te))
            self.split_source = "index files: " + ", ".join(f"{a.name}/{b.name}" for a, b in paths)
            return folds
        n_tr, n_te = self.fallback_sizes
        if n_tr + n_te > n:
            n_tr, n_te = n // 2, n - n // 2
        folds = []
        for k in range(len(self.index_files)):
            perm = np.random.default_rng([self.fold_seed, k]).permutation(n)
            folds.append((np.sort(perm[:n_tr]), np.sort(perm[n_tr:n_tr + n_te])))
        self.split_source = (f"random {n_tr}/{n_te} draws (seed {self.fold_seed}): the published index files "
                             f"{self.index_files[0][0]} ... were not found under $MATSCIBENCH_DATA")
        return folds

    # ------------------------------------------------------------------ models
    def incompatibility(self, model: Any) -> str | None:
        if not (hasattr(model, "get_potential_energy") or hasattr(model, "get_property")):
            return f"{type(model).__name__} is not an ASE calculator; task {self.name} evaluates interatomic potentials"
        supported = getattr(model, "supported_elements", None)
        if supported is not None:
            missing = sorted(self._elements() - set(supported))
            if missing:
                return f"{type(model).__name__} has no parameters for {', '.join(missing)}"
        if self._periodic() and getattr(model, "periodic_ok", True) is False:
            return f"{type(model).__name__} handles molecules only; task {self.name} has periodic cells"
        return None

    def _elements(self) -> set[str]:
        try:
            return self.spec.load().elements()
        except Exception:
            return set()

    def _periodic(self) -> bool:
        try:
            return self.spec.load().periodic
        except Exception:
            return False

    # ------------------------------------------------------------------ scoring
    def score_frames(self, pred: pd.DataFrame) -> dict[str, float]:
        """Errors of the frame predictions; frames without force labels (energy-only test sets such
        as dihedral scans) count for the energy errors only."""
        n = pred["n_atoms"].to_numpy(dtype=float)
        e_mae, e_rmse = PM.energy_errors_per_atom(pred["energy_true"], pred["energy_pred"], n)
        es_mae, es_rmse = PM.energy_errors_per_structure(pred["energy_true"], pred["energy_pred"])
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
        if "stress_true" in pred and pred["stress_true"].notna().any():
            rows = pred["stress_true"].notna() & pred["stress_pred"].notna()
            st = np.stack([np.asarray(x, float) for x in pred.loc[rows, "stress_true"]]) if rows.any() else np.empty((0, 6))
            sp = np.stack([np.asarray(x, float) for x in pred.loc[rows, "stress_pred"]]) if rows.any() else np.empty((0, 6))
            s_mae = PM.stress_mae(st, sp) if rows.any() else nan
        else:
            s_mae = nan
        return {
            "force_mae": f_mae,
            "energy_mae_per_atom": e_mae,
            "force_rmse": f_rmse,
            "energy_rmse_per_atom": e_rmse,
            "energy_mae_per_structure": es_mae,
            "energy_rmse_per_structure": es_rmse,
            "stress_mae": s_mae,
            **sciml,
            "force_angle_deg": ang,
            "force_magnitude_rel_error": mag,
        }

    def rescore(self, predictions: pd.DataFrame) -> dict[str, float]:
        kind = predictions["kind"] if "kind" in predictions else pd.Series("frame", index=predictions.index)
        frames = predictions[kind == "frame"]
        out = self.score_frames(frames) if len(frames) else {}
        md = predictions[kind == "md"]
        if len(md):
            out.update(self._md_metrics(md))
        eos = predictions[kind == "eos"]
        if len(eos):
            out.update(self._eos_metrics(eos))
        ph = predictions[kind == "phonon"]
        if len(ph):
            out.update(self._phonon_metrics(ph))
        nve = predictions[kind == "nve"]
        if len(nve):
            r = nve.iloc[0]
            out["nve_energy_drift"] = PM.nve_energy_drift(r["nve_times_ps"], r["nve_e_total"], int(r["n_atoms"]))
        di = predictions[kind == "diatomic"]
        if len(di):
            per = []
            for _, r in di.iterrows():
                m = PM.diatomic_curve_metrics(r["dimer_r"], r["dimer_e"], r["dimer_f"])
                e, f = np.asarray(r["dimer_e"], float), np.asarray(r["dimer_f"], float)
                m["diatomic_nonfinite_fraction"] = float(np.mean(~(np.isfinite(e) & np.isfinite(f))))
                per.append(m)
            with np.errstate(all="ignore"):
                out.update({k: float(np.nanmean([p[k] for p in per])) if np.isfinite([p[k] for p in per]).any()
                            else float("nan") for k in DIATOMIC_METRICS})
        return {m: out.get(m, float("nan")) for m in self.metrics}

    def _md_metrics(self, md: pd.DataFrame) -> dict[str, float]:
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

    def _eos_metrics(self, eos: pd.DataFrame) -> dict[str, float]:
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

    def _phonon_metrics(self, ph: pd.DataFrame) -> dict[str, float]:
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

    # ------------------------------------------------------------------ the job
    def run(self, model: Any, fold: int, ctx: JobContext) -> TaskOutput:
        meter = ctx.meter
        with meter.phase("load"):
            ds = self.spec.load()
            train, test = self.folds(ds)[fold]
            train_frames = [ds.frames[i] for i in train]
            test_frames = [ds.frames[i] for i in test]
        periodic = ds.periodic
        stress = periodic and _supports_stress(model)

        def score(f_true: Any, f_pred: Any) -> float:
            return PM.force_errors(f_true, f_pred)[0]

        cb = EpochCallback("force_mae", False, self.target, score, meter.record_epoch)
        if hasattr(model, "fit"):
            with meter.phase("fit"):
                import inspect

                try:
                    takes_cb = "on_epoch" in inspect.signature(model.fit).parameters
                except (TypeError, ValueError):
                    takes_cb = False
                model.fit(train_frames, on_epoch=cb) if takes_cb else model.fit(train_frames)
        fit_end = meter.elapsed()

        rows = []
        call_times = []
        with meter.phase("predict"):
            for k, (idx, fr) in enumerate(zip(test, test_frames)):
                at = _clean(fr)
                at.calc = model
                t = time.perf_counter()
                e = at.get_potential_energy()
                f = at.get_forces()
                call_times.append(time.perf_counter() - t)
                s = at.get_stress(voigt=True) if stress and "stress" in fr.info else None
                e = float(e)
                f = np.asarray(f, dtype=float)
                if not math.isfinite(e) or f.shape != (len(fr), 3) or not np.isfinite(f).all():
                    raise ModelOutputError(
                        f"frame {int(idx)} ({fr.info.get('system')}, {fr.info.get('group')}): energy {e}, forces of "
                        f"shape {f.shape} with {int((~np.isfinite(f)).sum()) if f.size else 0} non-finite values; "
                        f"expected a finite energy and ({len(fr)}, 3) finite forces"
                    )
                rows.append(
                    {
                        "kind": "frame",
                        "id": str(int(idx)),
                        "system": fr.info.get("system", ""),
                        "group": fr.info.get("group", ""),
                        "n_atoms": len(fr),
                        "energy_true": float(fr.info["energy"]),
                        "energy_pred": e,
                        "forces_true": (np.asarray(fr.arrays["forces"], float).ravel().tolist()
                                        if "forces" in fr.arrays else None),
                        "forces_pred": f.ravel().tolist(),
                        "stress_true": np.asarray(fr.info["stress"], float).tolist() if s is not None else None,
                        "stress_pred": np.asarray(s, float).tolist() if s is not None else None,
                    }
                )
        frames_df = pd.DataFrame(rows)
        metrics = self.score_frames(frames_df)
        per_group = {}
        for g, sub in frames_df.groupby("group"):
            sc = self.score_frames(sub)
            per_group[str(g)] = {"force_mae": sc["force_mae"], "energy_mae_per_structure": sc["energy_mae_per_structure"],
                                 "energy_mae_per_atom": sc["energy_mae_per_atom"], "n": int(len(sub))}
        pred_s = meter.phases["predict"].wall_s
        n_atoms_total = float(frames_df["n_atoms"].sum())
        costs: dict[str, float] = {
            "predict.ms_per_call": float(np.median(call_times) * 1e3),
            "predict.throughput_structures_per_s": len(test_frames) / pred_s if pred_s > 0 else float("nan"),
            "predict.throughput_atoms_per_s": n_atoms_total / pred_s if pred_s > 0 else float("nan"),
            "train.total_s": meter.phases["load"].wall_s + (meter.phases["fit"].wall_s if "fit" in meter.phases else 0.0),
        }
        if ctx.options.get("latency", True):
            with meter.phase("latency"):

                def one_call(batch):
                    at = _clean(batch[0])
                    at.calc = model
                    at.get_forces()

                lat = latency_percentiles(one_call, test_frames, 1, warmup=2,
                                          max_batches=int(ctx.options.get("latency_max_batches", 30)),
                                          budget_s=float(ctx.options.get("latency_budget_s", 2.0)),
                                          rng=np.random.default_rng(ctx.seed))
            costs.update({f"predict.{k}": v for k, v in lat.items()})

        extra_rows: list[dict] = []
        info: dict[str, Any] = {}
        ref = None
        if self.reference:
            ref = reference_calculator(self.reference, periodic)
        if self.md and self.md.get("protocol", "screen") == "mdsim":
            if fold in self.md.get("folds", [0]):
                with meter.phase("md"):
                    md_rows, md_costs = self._run_mdsim(model, test_frames, train_frames + test_frames, ctx.seed)
                extra_rows += md_rows
                costs.update(md_costs)
        elif self.md:
            with meter.phase("md"):
                md_rows, md_costs = self._run_md(model, ref, test_frames, ctx.seed)
            extra_rows += md_rows
            costs.update(md_costs)
        if self.eos and periodic and self.reference:
            with meter.phase("eos"):
                extra_rows += self._run_eos(model, ref, ds)
        if self.phonons and periodic and self.reference:
            with meter.phase("phonons"):
                extra_rows += self._run_phonons(model, ref, ds)
        if self.nve:
            with meter.phase("nve"):
                extra_rows.append(self._run_nve(model, test_frames[0], ctx.seed))
        if self.diatomics is not None:
            with meter.phase("diatomics"):
                extra_rows += self._run_diatomics(model, ds)
        if self.scaling:
            with meter.phase("scaling"):
                table, sc_costs = self._run_scaling(model, test_frames[0], periodic)
            costs.update(sc_costs)
            info["scaling"] = table
        pred = pd.concat([frames_df, pd.DataFrame(extra_rows)], ignore_index=True) if extra_rows else frames_df
        metrics = self.rescore(pred)

        ttt_costs, source = self.time_to_target(cb, metrics, fit_end)
        costs.update(ttt_costs)
        if self.target is not None:
            info["time_to_target_source"] = source
        info.update(
            {
                "n_train": int(len(train)),
                "n_test": int(len(test)),
                "split_hash": split_hash(train, test),
                "split": self.split,
                "split_source": self.split_source,
                "dataset": ds.name,
                "dataset_checksum": ds.checksum,
                "dataset_source": ds.source,
                "labels": ds.reference,
                "unit": self.unit,
                "per_group": per_group,
                "stress_evaluated": bool(stress),
            }
        )
        return TaskOutput(metrics=metrics, predictions=pred, info=info, costs=costs)

    # ------------------------------------------------------------------ in use
    def _run_md(self, model, ref, frames, seed: int) -> tuple[list[dict], dict[str, float]]:
        from ase import units
        from ase.md.langevin import Langevin

        from matscibench.data.potential_data import thermalize

        cfg = {"temperature_K": 600.0, "timestep_fs": 1.0, "steps": 300, "seeds": 2, "min_distance": 0.5,
               "max_temperature_factor": 5.0, "sample_every": 10, **self.md}
        T, dt, n_steps = float(cfg["temperature_K"]), float(cfg["timestep_fs"]), int(cfg["steps"])
        every = int(cfg["sample_every"])
        rows, walls, atom_steps = [], 0.0, 0.0

        def trajectory(calc, start, s: int, check: bool):
            atoms = _clean(start)
            atoms.calc = calc
            rng = np.random.default_rng([seed, s])
            thermalize(atoms, T, rng)
            dyn = Langevin(atoms, dt * units.fs, temperature_K=T, friction=0.02 / units.fs, rng=rng, fixcm=False)
            snaps, stable = [], n_steps
            t0 = time.perf_counter()
            done = 0
            while done < n_steps:
                try:
                    dyn.run(every)
                except Exception:
                    stable = done
                    break
                done += every
                if check and not self._physical(atoms, T, float(cfg["min_distance"]), float(cfg["max_temperature_factor"])):
                    stable = done
                    break
                snaps.append(atoms.copy())
            return snaps, min(stable, n_steps), time.perf_counter() - t0, done

        for s in range(int(cfg["seeds"])):
            start = frames[(s * max(1, len(frames) // max(1, int(cfg["seeds"])))) % len(frames)]
            snaps, stable, wall, done = trajectory(model, start, s, True)
            walls += wall
            atom_steps += done * len(start)
            row = {"kind": "md", "id": f"md{s}", "n_atoms": len(start), "md_stable_steps": stable, "md_steps": n_steps,
                   "md_timestep_fs": dt, "md_temperature_K": T, "system": start.info.get("system", ""), "rdf_model": None, "rdf_ref": None}
            if ref is not None and snaps:
                ref_snaps, _, _, _ = trajectory(ref, start, s, False)
                ref_snaps = ref_snaps[: len(snaps)]
                _, gm = PM.rdf(snaps)
                _, gr = PM.rdf(ref_snaps)
                row["rdf_model"] = gm.tolist()
                row["rdf_ref"] = gr.tolist()
            rows.append(row)
        costs = {}
        if walls > 0:
            costs["md.atom_steps_per_s"] = atom_steps / walls
            steps_total = atom_steps / max(1, rows[0]["n_atoms"]) if rows else 0
            costs["md.ns_per_day"] = (steps_total * dt * 1e-6) / (walls / 86400.0)
        return rows, costs

    def _run_mdsim(self, model, frames, ref_frames, seed: int) -> tuple[list[dict], dict[str, float]]:
        """Fu et al.'s stability protocol (kyonofx/MDsim commit 61ca2cfba373fd374343592556789fa30fbe3b56:
        simulate.py, mdsim/md/integrator.py, observable.ipynb). Each seed starts from a test frame drawn
        at random, Maxwell-Boltzmann velocities at T, Nosé-Hoover with one thermostat of mass
        Q = 3N kT (ttime·dt)² (ASE's ``NoseHooverChainNVT`` with ``tchain=1``, ``tdamp = ttime·dt``: the
        same Q as MDsim's ``NoseHoover``; ASE integrates it with its own splitting), a frame every
        ``save_every`` steps. The run stops at the collapse (a bond > 0.5 Å off its mean over the
        reference frames, MDsim's criterion) or when T leaves [0.1, 1e5] K (MDsim's Simulator).
        Molecules only (bonds without periodic images)."""
        from ase import units
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        from matscibench.data.potential_data import thermalize

        cfg = {**MDSIM_MD, **self.md}
        T, dt, n_steps = float(cfg["temperature_K"]), float(cfg["timestep_fs"]), int(cfg["steps"])
        every = int(cfg["save_every"])
        rows, walls, atom_steps = [], 0.0, 0.0
        ref_cache: dict[tuple, tuple] = {}
        for s in range(int(cfg["seeds"])):
            rng = np.random.default_rng([seed, s, 17])
            start = frames[int(rng.integers(len(frames)))]
            if start.pbc.any():
                raise ValueError(f"task {self.name}: the mdsim protocol is for molecules (bond lengths without "
                                 "periodic images); use md.protocol='screen' for periodic cells")
            key = tuple(start.numbers.tolist())
            if key not in ref_cache:
                ref_pos = np.stack([f.positions for f in ref_frames if np.array_equal(f.numbers, start.numbers)])
                ref_cache[key] = (ref_pos, PM.distance_histogram(ref_pos).tolist())
            ref_pos, hr_ref = ref_cache[key]
            pairs = PM.bond_pairs(_clean(start))
            ref_mean = PM.bond_lengths(ref_pos, pairs).mean(axis=0)
            atoms = _clean(start)
            atoms.calc = model
            thermalize(atoms, T, rng)
            dyn = NoseHooverChainNVT(atoms, dt * units.fs, temperature_K=T, tdamp=float(cfg["ttime"]) * dt * units.fs,
                                     tchain=1)
            traj = [atoms.positions.copy()]
            collapsed, done = False, 0
            t0 = time.perf_counter()
            while done < n_steps:
                try:
                    dyn.run(every)
                    temp = atoms.get_temperature()
                    ok = np.isfinite(atoms.positions).all() and 0.1 <= temp <= 1e5
                except Exception:  # noqa: BLE001 - a model that fails mid-run has collapsed
                    ok = False
                done += every
                if not ok:
                    collapsed = True
                    break
                traj.append(atoms.positions.copy())
                dev = np.abs(PM.bond_lengths(traj[-1], pairs)[0] - ref_mean)
                if len(dev) and dev.max() > PM.MDSIM_BOND_THRESHOLD:
                    collapsed = True
                    break
            wall = time.perf_counter() - t0
            walls += wall
            atom_steps += done * len(start)
            pos = np.stack(traj)
            # MDsim's collapse_pt: after a bond breach at frame k (kept), k + 1; after a failed step
            # (frame not kept) or a full run, the number of frames: len(traj) in every case
            cp = len(pos)
            stable_ps = (cp - 1) * every * dt / 1000.0
            hr_frames = pos[:cp]
            rows.append({"kind": "md", "id": f"mdsim{s}", "n_atoms": len(start), "md_protocol": "mdsim",
                         "md_stable_ps": stable_ps, "md_total_ps": n_steps * dt / 1000.0, "md_collapsed": int(collapsed),
                         "md_timestep_fs": dt, "md_temperature_K": T, "system": start.info.get("system", ""),
                         "hr_model": PM.distance_histogram(hr_frames).tolist(), "hr_n_frames": len(hr_frames),
                         "hr_ref": hr_ref})
        costs = {}
        if walls > 0:
            costs["md.atom_steps_per_s"] = atom_steps / walls
            steps_total = atom_steps / max(1, rows[0]["n_atoms"]) if rows else 0
            costs["md.ns_per_day"] = (steps_total * dt * 1e-6) / (walls / 86400.0)
        return rows, costs

    @staticmethod
    def _physical(atoms, T: float, min_distance: float, tfactor: float) -> bool:
        pos = atoms.positions
        if not np.isfinite(pos).all():
            return False
        if atoms.get_temperature() > tfactor * T:
            return False
        if atoms.pbc.any():
            import vesin

            d = vesin.NeighborList(cutoff=min_distance, full_list=False).compute(
                points=pos, box=np.asarray(atoms.cell), periodic=True, quantities="d")[0]
            return len(d) == 0
        if len(atoms) > 1:
            dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
            np.fill_diagonal(dist, np.inf)
            return float(dist.min()) >= min_distance
        return True

    def _bulk_cells(self, ds) -> list:
        """One bulk cell per system: the first frame of its coldest MD group (or any bulk frame)."""
        out = {}
        order = sorted(set(ds.groups.tolist()), key=lambda g: (not g.startswith("md_"), int("".join(c for c in g if c.isdigit()) or 0)))
        for g in order:
            if g in ("surface", "vacancy"):
                continue
            for fr in (f for f in ds.frames if f.info.get("group") == g):
                out.setdefault(fr.info.get("system", ""), fr)
        return list(out.values())[:4]

    def _run_eos(self, model, ref, ds) -> list[dict]:
        """E(V) of each system with each calculator, MLIP Arena's way (atomind-ai/mlip-arena commit
        f649ffeb789d8cd2af7e47ceab396dc5f3e36332, mlip_arena/tasks/eos.py): relax cell and atoms,
        then ``EOS_POINTS`` volumes within ±``EOS_MAX_STRAIN`` of the relaxed one (cell scaled by
        (1+ε)^(1/3)), atoms relaxed at each fixed cell; each calculator relaxes its own cell."""
        rows = []
        for fr in self._bulk_cells(ds):
            out = {}
            for tag, calc in (("model", model), ("ref", ref)):
                vols, es = [], []
                try:
                    relaxed = relax(_clean(fr), calc, cell=True)
                    c0 = np.asarray(relaxed.cell)
                    for x in np.linspace(1 - EOS_MAX_STRAIN, 1 + EOS_MAX_STRAIN, EOS_POINTS):
                        at = relaxed.copy()
                        at.set_cell(c0 * x ** (1 / 3), scale_atoms=True)
                        at = relax(at, calc, cell=False)
                        vols.append(float(at.get_volume()))
                        es.append(float(at.get_potential_energy()))
                except Exception:  # noqa: BLE001 - a potential that cannot be relaxed fails its EOS
                    vols, es = [], []
                out[tag] = (vols, es)
            rows.append({"kind": "eos", "id": f"eos-{fr.info.get('system')}", "system": fr.info.get("system", ""),
                         "n_atoms": len(fr), "eos_volumes": out["model"][0], "eos_e_model": out["model"][1],
                         "eos_volumes_ref": out["ref"][0], "eos_e_ref": out["ref"][1]})
        return rows

    def _run_phonons(self, model, ref, ds) -> list[dict]:
        """phonopy on the fcc primitive cell of each elemental system, relaxed by each calculator
        (``relax``, cell and atoms) before its own phonons."""
        from ase.build import bulk
        from ase.data import atomic_numbers, reference_states

        rows = []
        systems = [s for s in dict.fromkeys(ds.systems.tolist()) if s in atomic_numbers][:3]
        grid = np.linspace(0.0, 15.0, 151)  # THz
        for el in systems:
            rs = reference_states[atomic_numbers[el]]
            if not rs or rs.get("symmetry") != "fcc":
                continue
            start = bulk(el, "fcc", a=float(rs["a"]))
            res = {}
            for tag, calc in (("model", model), ("ref", ref)):
                try:
                    res[tag] = _phonons(relax(start, calc, cell=True), calc, grid)
                except Exception:  # noqa: BLE001 - no relaxed cell: no phonons (NaN errors)
                    res[tag] = {"dos": np.full(len(grid), np.nan), "max_freq": float("nan"), "cv": float("nan"),
                                "imag": float("nan")}
            res_m, res_r = res["model"], res["ref"]
            rows.append({"kind": "phonon", "id": f"phonon-{el}", "system": el, "n_atoms": len(start),
                         "dos_model": res_m["dos"].tolist(), "dos_ref": res_r["dos"].tolist(),
                         "max_freq_model": res_m["max_freq"], "max_freq_ref": res_r["max_freq"],
                         "cv_model": res_m["cv"], "cv_ref": res_r["cv"], "imag_model": res_m["imag"]})
        return rows

    def _run_nve(self, model, frame, seed: int) -> dict:
        """Velocity Verlet (NVE) from ``frame`` with Maxwell-Boltzmann velocities; total energy
        recorded every ``every`` steps (a run that fails leaves an infinite drift)."""
        from ase import units
        from ase.md.verlet import VelocityVerlet

        from matscibench.data.potential_data import thermalize

        cfg = {"steps": 500, "timestep_fs": 1.0, "temperature_K": 300.0, "every": 10, **self.nve}
        dt, every = float(cfg["timestep_fs"]), int(cfg["every"])
        atoms = _clean(frame)
        atoms.calc = model
        thermalize(atoms, float(cfg["temperature_K"]), np.random.default_rng([seed, 23]))
        dyn = VelocityVerlet(atoms, dt * units.fs)
        times, etot = [0.0], [float(atoms.get_total_energy())]
        done = 0
        while done < int(cfg["steps"]):
            try:
                dyn.run(every)
                e = float(atoms.get_total_energy())
            except Exception:  # noqa: BLE001 - a failed run: infinite drift
                e = float("inf")
            done += every
            times.append(done * dt / 1000.0)
            etot.append(e)
            if not math.isfinite(e):
                break
        return {"kind": "nve", "id": "nve", "n_atoms": len(atoms), "system": frame.info.get("system", ""),
                "nve_times_ps": times, "nve_e_total": etot, "nve_timestep_fs": dt}

    def _run_diatomics(self, model, ds) -> list[dict]:
        """Homonuclear dimers of the dataset's elements (MLIP Arena's diatomics/run.py, commit
        a05d1ab: a non-periodic box of 5 r_max, atoms along x, 0.01 Å steps); radial force on the
        second atom along the bond."""
        from ase import Atoms

        cfg = {"rstep": 0.01, "elements": None, **(self.diatomics or {})}
        elements = cfg["elements"] or sorted(ds.elements())
        rows = []
        for el in elements:
            rs = PM.diatomic_distances(el, float(cfg["rstep"]))
            a = 5 * rs[-1]
            es, fs = [], []
            for r in rs:
                at = Atoms(el + el, positions=[[a / 2 - r / 2, a / 2, a / 2], [a / 2 + r / 2, a / 2, a / 2]],
                           cell=[a, a + 0.001, a + 0.002], pbc=False)
                at.calc = model
                try:
                    es.append(float(at.get_potential_energy()))
                    fs.append(float(at.get_forces()[1, 0]))
                except Exception:  # noqa: BLE001 - a model that cannot evaluate a dimer: NaN curve
                    es.append(float("nan"))
                    fs.append(float("nan"))
            rows.append({"kind": "diatomic", "id": f"dimer-{el}{el}", "system": f"{el}2", "n_atoms": 2,
                         "dimer_r": rs.tolist(), "dimer_e": es, "dimer_f": fs})
        return rows

    def _run_scaling(self, model, frame, periodic: bool) -> tuple[list[dict], dict[str, float]]:
        cfg = {"max_atoms": 4000, "budget_s": 2.0, "repeats": 3, **self.scaling}
        table = []
        base = _clean(frame)
        reps = [1, 2, 3, 4, 6, 8, 10, 13, 16, 20, 25]
        budget = float(cfg["budget_s"])
        for r in reps:
            at = _tile(base, r, periodic)
            if len(at) > int(cfg["max_atoms"]) and table:
                break
            if len(table) >= 1:
                # predict the next call from the scaling so far (at least linear) and stop before
                # a size that would blow the budget
                n0, t0 = table[-1]["n_atoms"], table[-1]["ms_per_call"] / 1e3
                x = 1.0
                if len(table) >= 2:
                    n1, t1 = table[-2]["n_atoms"], table[-2]["ms_per_call"] / 1e3
                    x = max(1.0, math.log(t0 / t1) / math.log(n0 / n1)) if t1 > 0 and n0 > n1 else 1.0
                if t0 * (len(at) / n0) ** x > budget:
                    break
            at.calc = model
            t = time.perf_counter()
            at.get_forces()  # warm-up (and allocations)
            first = time.perf_counter() - t
            repeats = int(cfg["repeats"]) if first < budget / 3 else 1
            ts = []
            peak_rss_reset()
            for _ in range(repeats):
                at.positions = at.positions + 1e-4  # a new configuration: no cached result
                t = time.perf_counter()
                at.get_potential_energy()
                at.get_forces()
                ts.append(time.perf_counter() - t)
            table.append({"n_atoms": len(at), "ms_per_call": float(np.median(ts) * 1e3), "peak_rss_MiB": peak_rss_mib()})
            if np.median(ts) > budget:
                break
        costs: dict[str, float] = {}
        if len(table) >= 2:
            n = np.array([r["n_atoms"] for r in table], float)
            t = np.array([r["ms_per_call"] for r in table], float)
            use = n >= min(100, n.max() / 4) if (n >= 100).sum() >= 2 else np.ones_like(n, bool)
            costs["scaling.exponent"] = float(np.polyfit(np.log(n[use]), np.log(t[use]), 1)[0])
        if table:
            costs["scaling.max_atoms"] = float(table[-1]["n_atoms"])
            costs["scaling.ms_per_call_largest"] = float(table[-1]["ms_per_call"])
            costs["scaling.peak_rss_MiB_largest"] = float(table[-1]["peak_rss_MiB"])
        return table, costs

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update({"dataset": self.dataset_name, "dataset_params": self.dataset_params, "split": self.split,
                  "input_type": "atoms", "task_type": "potential", "reference": self.reference})
        return d


#: MLIP Arena's EOS (mlip_arena/tasks/eos.py at f649ffe): 11 volumes within ±10 % of the relaxed one
EOS_POINTS = 11
EOS_MAX_STRAIN = 0.10
#: relaxation: force (eV/Å) and stress criteria of ASE's optimisers, and a step cap
RELAX_FMAX = 0.01
RELAX_STEPS = 300


def relax(atoms, calc, cell: bool, fmax: float = RELAX_FMAX, steps: int = RELAX_STEPS):
    """A copy of ``atoms`` relaxed with ``calc``: atoms only (``cell=False``) or atoms and cell
    (ASE's ``UnitCellFilter``), with ASE's BFGS to ``fmax`` eV/Å (the same bound on the filter's
    virial per atom), at most ``steps``. MLIP Arena relaxes with ``FrechetCellFilter``: the same
    minimum, but its matrix exponentials made each step 5x slower here (EMT, 32 atoms)."""
    import warnings

    from ase.filters import UnitCellFilter
    from ase.optimize import BFGS

    at = _clean(atoms)
    at.calc = calc
    target = UnitCellFilter(at) if cell else at
    from threadpoolctl import threadpool_limits

    # BFGS diagonalises a (3N+9)² Hessian each step: threaded BLAS on a busy machine made it 4x slower
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore")
        BFGS(target, logfile=None).run(fmax=fmax, steps=steps)
    if not np.isfinite(at.positions).all() or not np.isfinite(np.asarray(at.cell)).all():
        raise ModelOutputError(f"relaxing {at.get_chemical_formula()} gave non-finite positions or cell")
    return at


def _tile(base, r: int, periodic: bool):
    """A system about r³ times larger: a supercell, or a cubic grid of copies of a molecule."""
    if periodic:
        return base.repeat((r, r, r))
    from ase import Atoms

    span = np.ptp(base.positions, axis=0).max() + 4.0
    out = Atoms()
    for i in range(r):
        for j in range(r):
            for k in range(r):
                m = base.copy()
                m.positions = m.positions + np.array([i, j, k]) * span
                out += m
    return out


def _phonons(prim, calc, grid: np.ndarray) -> dict[str, Any]:
    """Phonon DOS (normalised to 3 per atom on ``grid``, THz), max frequency, Cv(300 K) in J/(K mol).

    The phonopy code is shared with the phonon family (``matscibench.data.phonon_data``).
    """
    from matscibench.data.phonon_data import potential_check_phonons

    return potential_check_phonons(prim, calc, grid)


# ---------------------------------------------------------------------------- DFT-relaxed cells
RELAXED_METRICS = ("residual_force_rms", "residual_force_max", "energy_spearman", "relaxed_energy_mae",
                   "energy_spearman_raw", "composition_baseline_spearman", "residual_pressure")


def _is_untrained(model: Any) -> bool:
    """A trainable model (``fit`` of its own) with no learned state yet (scikit-learn's test:
    no public attribute ending in ``_``). Fixed calculators and pretrained adapters count as trained."""
    from matscibench.models.potentials import _Delegating

    if not hasattr(model, "fit") or isinstance(model, _Delegating):
        return False
    return not [k for k in vars(model) if k.endswith("_") and not k.startswith("_")]


class RelaxedCellsTask(DatasetTask):
    """A pretrained potential on cells that DFT relaxed: residual forces and the energy ranking.

    Real data only: CDVAE's CSVs (``cdvae/<dataset>/<split>.csv`` under ``$MATSCIBENCH_DATA``, e.g.
    ``../shared/data/cdvae/perov_5/test.csv``, or downloaded from CDVAE's repository when online).
    Every cell is at a DFT energy minimum (at ``pressure_GPa``: Carbon-24's AIRSS search ran at
    10 GPa), so a potential that reproduces DFT puts (near) zero forces on it and a pressure of
    ``pressure_GPa``. Metrics:

    - ``residual_force_rms`` / ``residual_force_max`` (meV/Å): RMS of the force components and the
      largest per-atom force, over the ``n_cells`` cells;
    - ``energy_spearman``: Spearman ρ between the model's energies per atom and DFT's column
      ``energy_column`` (eV/atom; Perov-5: ``heat_ref``, the heat of formation), after removing
      per-element reference energies fitted on the other folds (``metrics.potential.
      referenced_energies``; on Carbon-24 a constant, so the same as the raw ranking);
      ``relaxed_energy_mae`` (meV/atom) on the same scale;
    - ``energy_spearman_raw``: ρ of the model's energy per atom as it comes (no references, no P·V);
    - ``composition_baseline_spearman``: ρ of the element references alone (a model that knows only
      the composition): what ``energy_spearman`` has to beat (NaN for one element);
    - ``residual_pressure`` (GPa): mean | -tr(σ)/3 - ``pressure_GPa`` |.

    With ``enthalpy`` the model's energy per atom is the enthalpy E/N + P·V/N at ``pressure_GPa``
    (on for Carbon-24: its labels rank as enthalpies at 10 GPa; with CHGNet 0.3.0 on 200 test cells
    ρ was 0.939 against the enthalpy and 0.906 against E alone, SevenNet-0 0.958 and 0.926).
    No training: trainable models that are not fitted yet are marked not applicable.
    """

    family = "potentials"
    unit = "meV/Å"

    def __init__(self, name: str, dataset: str, energy_column: str, *, split: str = "test", n_cells: int | None = 200,
                 pressure_GPa: float = 0.0, enthalpy: bool = False, reference_folds: int = 5, fold_seed: int = 0,
                 description: str = "") -> None:
        self.name = name
        self.dataset_name = dataset
        self.dataset_params = {"splits": [split]}
        self.split = split
        self.energy_column = energy_column
        self.n_cells = int(n_cells) if n_cells else None
        self.pressure_GPa = float(pressure_GPa)
        self.enthalpy = bool(enthalpy)
        self.reference_folds = int(reference_folds)
        self.fold_seed = int(fold_seed)
        self._n_folds = 1
        self.metrics = RELAXED_METRICS
        self.target = None
        self.description = (description or "pretrained potentials on {n} DFT-relaxed cells of {dataset}").format(
            n=self.n_cells or "all", split=split, dataset=dataset)
        self.citation = getattr(self.spec, "citation", "")

    def _missing_hint(self) -> str:
        folder = self.dataset_name.replace("cdvae_", "cdvae/")
        return (f"task {self.name} needs the real DFT data: {folder}/{self.split}.csv under a folder named by "
                f"$MATSCIBENCH_DATA (e.g. MATSCIBENCH_DATA=../shared/data, which has {folder}/)")

    def prepare(self, progress=None) -> None:
        from matscibench.errors import DatasetNotAvailable

        try:
            self.spec.prepare(progress)
        except DatasetNotAvailable as exc:
            raise DatasetNotAvailable(f"{self._missing_hint()}. {exc}") from exc

    def cells(self, ds) -> np.ndarray:
        """Indices of the evaluated cells: ``n_cells`` evenly spaced over the split (all if None)."""
        n = len(ds)
        if self.n_cells and n > self.n_cells:
            return np.linspace(0, n - 1, self.n_cells).round().astype(int)
        return np.arange(n)

    def _load(self):
        from matscibench.errors import DatasetNotAvailable

        try:
            return self.spec.load()
        except DatasetNotAvailable as exc:
            raise DatasetNotAvailable(f"{self._missing_hint()}. {exc}") from exc

    def incompatibility(self, model: Any) -> str | None:
        if not (hasattr(model, "get_potential_energy") or hasattr(model, "get_property")):
            return f"{type(model).__name__} is not an ASE calculator; task {self.name} evaluates interatomic potentials"
        if getattr(model, "periodic_ok", True) is False:
            return f"{type(model).__name__} handles molecules only; task {self.name} has periodic cells"
        if _is_untrained(model):
            return f"{type(model).__name__} is trainable and not fitted; task {self.name} judges pretrained potentials (no training data)"
        supported = getattr(model, "supported_elements", None)
        if supported is not None:
            try:
                ds = self._load()
                els = {str(el) for i in self.cells(ds) for el in ds.inputs[i].composition.elements}
            except Exception:
                els = set()
            missing = sorted(els - set(supported))
            if missing:
                return f"{type(model).__name__} has no parameters for {', '.join(missing)}"
        return None

    def _referenced(self, p: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
        """(model energies per atom on DFT's scale, composition-only baseline, number of elements)."""
        e = p["energy_pred"].to_numpy(float)
        if self.enthalpy:
            e = e + self.pressure_GPa / PM.EV_PER_A3_IN_GPA * p["volume"].to_numpy(float)
        y = p["energy_true_per_atom"].to_numpy(float)
        elements = sorted({el for syms in p["symbols"] for el in syms})
        col = {el: k for k, el in enumerate(elements)}
        counts = np.zeros((len(p), len(elements)))
        for r, syms in enumerate(p["symbols"]):
            for el in syms:
                counts[r, col[el]] += 1
        ref = PM.referenced_energies(e, counts, y, self.reference_folds, self.fold_seed)
        base = PM.referenced_energies(np.zeros_like(e), counts, y, self.reference_folds, self.fold_seed)
        return ref, base, len(elements)

    def rescore(self, predictions: pd.DataFrame) -> dict[str, float]:
        p = predictions
        n = p["n_atoms"].to_numpy(float)
        f_rms, f_max = PM.residual_forces([np.asarray(x, float) for x in p["forces_pred"]])
        e_raw = p["energy_pred"].to_numpy(float)
        y = p["energy_true_per_atom"].to_numpy(float)
        ref, base, n_elements = self._referenced(p)
        ok = np.isfinite(ref)
        press = p["pressure_pred"].to_numpy(float) if "pressure_pred" in p else np.full(len(p), np.nan)
        return {
            "residual_force_rms": f_rms,
            "residual_force_max": f_max,
            "energy_spearman": PM.spearman(y[ok], ref[ok]),
            "relaxed_energy_mae": float(np.mean(np.abs(ref[ok] - y[ok])) * 1e3) if ok.any() else float("nan"),
            "energy_spearman_raw": PM.spearman(y, e_raw / n),
            "composition_baseline_spearman": PM.spearman(y[ok], base[ok]) if n_elements > 1 else float("nan"),
            "residual_pressure": float(np.nanmean(np.abs(press - self.pressure_GPa))) if np.isfinite(press).any() else float("nan"),
        }

    def run(self, model: Any, fold: int, ctx: JobContext) -> TaskOutput:
        from pymatgen.io.ase import AseAtomsAdaptor

        meter = ctx.meter
        with meter.phase("load"):
            ds = self._load()
            idx = self.cells(ds)
            if self.energy_column not in ds.targets:
                raise KeyError(f"{ds.name} has no column {self.energy_column!r}; columns: {list(ds.targets.columns)}")
            y = ds.targets[self.energy_column].to_numpy(float)
            cells = [AseAtomsAdaptor.get_atoms(ds.inputs[i]) for i in idx]
        stress_ok = _supports_stress(model)
        rows, call_times = [], []
        with meter.phase("predict"):
            for i, at0 in zip(idx, cells):
                at = _clean(at0)
                at.calc = model
                t = time.perf_counter()
                e = float(at.get_potential_energy())
                f = np.asarray(at.get_forces(), dtype=float)
                call_times.append(time.perf_counter() - t)
                pressure = float("nan")
                if stress_ok:
                    try:
                        s = np.asarray(at.get_stress(voigt=True), float)
                        pressure = float(-s[:3].mean() * PM.EV_PER_A3_IN_GPA)
                    except Exception:  # noqa: BLE001 - a calculator without stress: no pressure figure
                        stress_ok = False
                if not math.isfinite(e) or f.shape != (len(at), 3) or not np.isfinite(f).all():
                    raise ModelOutputError(f"cell {ds.ids[i]} ({at.get_chemical_formula()}): energy {e}, forces of shape "
                                           f"{f.shape}; expected a finite energy and ({len(at)}, 3) finite forces")
                rows.append({"kind": "relaxed", "id": str(ds.ids[i]), "formula": at.get_chemical_formula(),
                             "n_atoms": len(at), "symbols": at.get_chemical_symbols(), "volume": float(at.get_volume()),
                             "energy_true_per_atom": float(y[i]), "energy_pred": e, "forces_pred": f.ravel().tolist(),
                             "pressure_pred": pressure})
        pred = pd.DataFrame(rows)
        metrics = self.rescore(pred)
        n_ref = int(np.isfinite(self._referenced(pred)[0]).sum())
        pred_s = meter.phases["predict"].wall_s
        costs = {
            "predict.ms_per_call": float(np.median(call_times) * 1e3),
            "predict.throughput_structures_per_s": len(cells) / pred_s if pred_s > 0 else float("nan"),
            "predict.throughput_atoms_per_s": float(pred["n_atoms"].sum()) / pred_s if pred_s > 0 else float("nan"),
        }
        info = {"n_train": 0, "n_test": len(cells), "dataset": ds.name, "dataset_checksum": ds.checksum,
                "dataset_source": ds.source, "split": self.split, "energy_column": self.energy_column,
                "split_hash": split_hash(np.array([], int), idx), "pressure_GPa": self.pressure_GPa,
                "enthalpy": self.enthalpy, "unit": self.unit,
                # cells whose elements all occur in the other reference folds (the others are left out
                # of energy_spearman and relaxed_energy_mae)
                "n_referenced": n_ref}
        return TaskOutput(metrics=metrics, predictions=pred, info=info, costs=costs)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update({"dataset": self.dataset_name, "split": self.split, "energy_column": self.energy_column,
                  "n_cells": self.n_cells, "input_type": "structure", "task_type": "potential",
                  "needs_real_data": True, "pressure_GPa": self.pressure_GPa})
        return d


# ---------------------------------------------------------------------------- built-in tasks
def _factory(name: str, dataset: str, **defaults: Any):
    def factory(**params: Any) -> PotentialTask:
        return PotentialTask(name, dataset, **{**defaults, **params})

    return factory


def register_tasks(register) -> None:
    from matscibench.data.potential_data import MD17_MOLECULES

    metals_md = {"protocol": "screen", "temperature_K": 900.0, "timestep_fs": 2.0, "steps": 400, "seeds": 2,
                 "min_distance": 1.5}
    register(
        "emt_metals_forces",
        _factory("emt_metals_forces", "emt_metals", split="random", n_folds=5, reference="emt", md=metals_md,
                 eos=True, phonons=True, scaling={"max_atoms": 4000, "budget_s": 1.0}, target_value=50.0,
                 nve={"steps": 500, "timestep_fs": 1.0, "temperature_K": 300.0}, diatomics=True,
                 description="EMT metals and alloys: energies, forces, stress; MD at 900 K, EOS, phonons against EMT"),
    )
    register(
        "emt_metals_extrapolation",
        _factory("emt_metals_extrapolation", "emt_metals", split="groups",
                 train_groups=["md_300K", "md_600K", "strain"],
                 test_groups=["md_900K", "md_1200K", "vacancy", "surface"],
                 reference="emt", md={**metals_md, "temperature_K": 1200.0}, eos=True, target_value=50.0,
                 description="EMT metals: train on 300/600 K MD and strained cells, test on 900/1200 K, vacancies and surfaces"),
    )
    mol_md = {"temperature_K": 500.0, "timestep_fs": 0.5, "steps": 400, "seeds": 2, "min_distance": 0.6}
    for mol in MD17_MOLECULES:
        register(
            f"xtb_md17_{mol}",
            _factory(f"xtb_md17_{mol}", f"xtb_md17_{mol}", split="random", n_folds=5, reference="gfn2-xtb", md=MDSIM_MD,
                     scaling={"max_atoms": 1000, "budget_s": 1.0}, target_value=50.0, energy_per="structure",
                     nve={"steps": 1000, "timestep_fs": 0.5, "temperature_K": 300.0}, diatomics=True,
                     description=f"{mol} (GFN2-xTB MD17 of our own): energies and forces; MD stability after Fu et al. "
                                 "(300 ps at 500 K, first fold)"),
        )
        register(
            f"xtb_md17_{mol}_extrapolation",
            _factory(f"xtb_md17_{mol}_extrapolation", f"xtb_md17_{mol}", split="groups", train_groups=["md_500K"],
                     test_groups=["md_800K"], reference="gfn2-xtb", md={**mol_md, "temperature_K": 800.0, "protocol": "screen"}, target_value=50.0, energy_per="structure",
                     description=f"{mol} (GFN2-xTB MD17): train on 500 K MD, test on 800 K frames and MD at 800 K"),
        )
    register(
        "dft_relaxed_perov5",
        lambda **p: RelaxedCellsTask(
            "dft_relaxed_perov5", "cdvae_perov_5", "heat_ref",
            **{"description": "pretrained potentials on {n} DFT-relaxed Perov-5 cells (CDVAE {split} split; needs "
                              "$MATSCIBENCH_DATA/cdvae/perov_5): residual forces, ranking of the heat of formation",
               **p}),
    )
    register(
        "dft_relaxed_carbon24",
        lambda **p: RelaxedCellsTask("dft_relaxed_carbon24", "cdvae_carbon_24", "energy_per_atom",
                                     **{"pressure_GPa": 10.0, "enthalpy": True,
                                        "description": "pretrained potentials on {n} DFT-relaxed Carbon-24 cells (AIRSS "
                                        "at 10 GPa, CDVAE {split} split; needs $MATSCIBENCH_DATA/cdvae/carbon_24): residual "
                                        "forces and pressure, ranking of the DFT energy per atom", **p}),
    )
    # BOTNet / MACE protocols (Batatia et al., arXiv:2205.06643; MACE, NeurIPS 2022): one training
    # set, each test set reported apart (one task each: the model is trained again for each)
    def botnet(name: str, dataset: str, train: list[str], test: str, desc: str, md: dict | None = None,
               energy_only: bool = False, **extra: Any) -> None:
        register(name, _factory(name, dataset, split="groups", train_groups=train, test_groups=[test], md=md,
                                energy_per="structure", energy_first=energy_only, **extra, description=desc))

    botnet("botnet_ethanol", "botnet_ethanol", ["train"], "test_md",
           "rMD17 ethanol with PBE labels (BOTNet): train on 1,000 configurations, test on 1,000 MD frames",
           md=MDSIM_MD, target_value=30.0)
    botnet("botnet_ethanol_h_removal", "botnet_ethanol", ["train"], "test_h_removal",
           "ethanol (BOTNet): train on rMD17 configurations, energies along the O-H bond-breaking path", energy_only=True)
    for T in ("300K", "600K"):
        botnet(f"botnet_acac_{T}", "botnet_acac", ["train_300K"], f"test_md_{T}",
               f"acetylacetone (BOTNet): train at 300 K, test on MD at {T[:-1]} K"
               + (" (temperature extrapolation)" if T == "600K" else ""),
               md={**MDSIM_MD, "temperature_K": float(T[:-1])})
    botnet("botnet_acac_dihedral", "botnet_acac", ["train_300K"], "test_dihedral",
           "acetylacetone (BOTNet): train at 300 K, energies along a dihedral scan about a C-C bond", energy_only=True)
    botnet("botnet_acac_h_transfer", "botnet_acac", ["train_300K"], "test_h_transfer",
           "acetylacetone (BOTNet): train at 300 K, energies along the NEB path of the proton transfer", energy_only=True)
    for T in ("300K", "600K", "1200K"):
        botnet(f"botnet_3bpa_{T}", "botnet_3bpa", ["train_300K"], f"test_{T}",
               f"3BPA (BOTNet/MACE): train on 500 configurations at 300 K, test on MD at {T[:-1]} K "
               "(test files: see the dataset's hint)")
    botnet("botnet_3bpa_dihedral", "botnet_3bpa", ["train_300K"], "test_dihedral",
           "3BPA (BOTNet/MACE): train at 300 K, energies of the DFT-optimised dihedral scans", energy_only=True)
    # rMD17 on its published splits (5 x 1,000 train / 1,000 test index files when present)
    for mol in ("aspirin", "benzene", "ethanol", "malonaldehyde", "naphthalene", "salicylic", "toluene", "uracil"):
        register(
            f"rmd17_{mol}",
            _factory(f"rmd17_{mol}", f"rmd17_{mol}", split="index_files",
                     index_files=[(f"rmd17/splits/index_train_0{k}.csv", f"rmd17/splits/index_test_0{k}.csv")
                                  for k in range(1, 6)],
                     energy_per="structure", md=MDSIM_MD,
                     description=f"rMD17 {mol} (Christensen & von Lilienfeld 2020; needs $MATSCIBENCH_DATA/rmd17): "
                                 "the published 5 x 1,000/1,000 splits"),
        )
