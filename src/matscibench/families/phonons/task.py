"""Phonons: the DOS, the dispersion and the thermal properties that follow, by two routes.

One task, two kinds of model; the route follows from the model:

* direct route: a structure -> DOS model, scikit-learn style, that declares ``"phonon"`` in its
  ``input_types``: ``fit(structures, Y)`` with pymatgen ``Structure`` inputs and ``Y`` of shape
  (n, n_grid), the DOS of each training structure on the task's frequency grid (THz), unit area;
  then ``predict(structures) -> (n, n_grid)``. ``fit`` may take ``on_epoch`` (the harness's
  ``EpochCallback``; its metric is the DOS MSE, ``on_epoch.score(Y_val, Y_pred)``) and
  ``frequencies`` (the grid). A model may add ``predict_bands(structures, qpoints) -> list of
  (n_q, 3 n_atoms)`` arrays (THz) to be scored on the dispersion too.
* potential route: an ASE calculator, optionally trainable with ``fit(frames, on_epoch=None)``
  on the labelled displaced supercells of the training structures (energies in
  ``atoms.info["energy"]``, eV; forces in ``atoms.arrays["forces"]``, eV/Å; ``on_epoch`` values
  are force MAEs in meV/Å). Each test structure then goes through phonopy with the model: the
  same supercell, displacements, q-mesh and path as the reference (stored with the dataset), the
  model's forces minus its own residual forces on the undisplaced supercell, force constants,
  frequencies on the mesh and the path; the DOS is broadened exactly as the reference's. On a
  dataset without labelled supercells (``chen2021_phonon_dos``) ``fit`` is not called: pretrained
  calculators run as they are, with phonopy set up by the task's rule.

Both routes are scored on the same test structures with the same functions
(``families/phonons/metrics.py``): the DOS MSE of max-normalised curves (Chen et al.'s error,
``dos_mse``, the primary metric), MSE / MAE / spectral overlap on unit-area curves, average
and maximum frequency errors, Cv(T) relative errors at 100/300/600 K, entropy and free-energy
errors at 300 K and the Debye-temperature error, all computed from the DOS curves with the
harmonic formulas (for the reference too, so a model that reproduces the reference DOS scores
zero); band-structure MAE (potential route, or direct models with ``predict_bands``); spurious
imaginary branches (the reference structures have none; a DOS model cannot produce any).

Costs: ``phonons.s_per_structure`` (wall time of one phonon calculation with the model),
``phonons.force_calls_per_structure``, ``phonons.supercell_atoms``, ``phonons.ms_per_force_call``,
and for both routes ``predict.throughput_structures_per_s``, so one table and one Pareto plot
(accuracy against cost) hold both routes. Folds: seeded K-fold over structures
(``emt_phonon_dos``), or for ``chen2021_phonon_dos`` the split published with Chen et al.'s CSV
(``split="chen2021"``: one fold, 1,192 training, 141 validation, 189 test structures;
``chen2021.chen2021_split``). There the potential route turns the model's phonopy frequencies
into a DOS as Chen et al. processed theirs (``dos_processing="chen2021"``:
``metrics.chen2021_dos``, Savitzky-Golay smoothing, their 51-point grid, max-normalised).
A direct model whose ``fit`` takes ``validation_data`` gets the validation structures and their
DOS.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from matscibench.data.splits import kfold_indices, split_hash
from matscibench.errors import ModelOutputError
from matscibench.families.base import DatasetTask, JobContext, TaskOutput
from matscibench.families.phonons import metrics as PHM
from matscibench.models.base import EpochCallback, fit_accepts
from matscibench.models.replay import announce_items

__all__ = ["PhononTask", "model_route", "register_tasks", "PHONON_METRICS"]


PHONON_METRICS = (
    "dos_mse",
    "dos_mse_area",
    "dos_mae_area",
    "dos_overlap",
    "avg_freq_error",
    "max_freq_error",
    "band_mae",
    "cv_error_100K",
    "cv_error_300K",
    "cv_error_600K",
    "entropy_error_300K",
    "free_energy_error_300K",
    "debye_temperature_error",
    "imaginary_branches",
    "unstable_fraction",
)
#: temperatures of the Cv errors (K); S and F are scored at 300 K
_T = PHM.THERMAL_TEMPERATURES_K


def _is_calculator(model: Any) -> bool:
    return hasattr(model, "get_potential_energy") or hasattr(model, "get_property")


def model_route(model: Any) -> str | None:
    """``"potential"`` for an ASE calculator, ``"direct"`` for a structure -> DOS model, else None."""
    if _is_calculator(model):
        return "potential"
    types = getattr(model, "input_types", None)
    if hasattr(model, "fit") and hasattr(model, "predict") and types is not None and "phonon" in tuple(types):
        return "direct"
    return None


class PhononTask(DatasetTask):
    """Predict the phonon DOS (and what follows from it) of crystals, directly or through phonopy.

    Parameters
    ----------
    dataset, dataset_params: a phonon dataset (``emt_phonons``, ``chen2021_phonon_dos``).
    n_folds, fold_seed: seeded K-fold over structures.
    max_train, max_test: at most this many training / test structures per fold (evenly spaced).
    max_train_frames: at most this many training frames for a trainable potential (evenly spaced).
    routes: the routes this task runs (``("direct", "potential")``).
    min_supercell_length, displacement, mesh_length: phonopy set-up for structures the dataset
        did not compute itself (Å, Å, Å).
    target_value: time-to-target threshold on the DOS MSE of max-normalised curves (unitless).
    split: ``"kfold"`` (``n_folds`` seeded folds) or ``"chen2021"`` (the published split of
        Chen et al.'s CSV: one fold, with a validation set).
    dos_processing: how the potential route makes a DOS from phonopy's mesh: ``"smeared"``
        (Gaussians of the dataset's σ on its grid, as the embedded reference) or ``"chen2021"``.
    """

    family = "phonons"
    unit = None
    predictions_file_model = "matscibench.families.phonons.replay:PhononReplay"

    def __init__(
        self,
        name: str,
        dataset: str,
        *,
        dataset_params: dict[str, Any] | None = None,
        n_folds: int = 5,
        fold_seed: int = 0,
        max_train: int | None = None,
        max_test: int | None = None,
        max_train_frames: int | None = None,
        routes: tuple[str, ...] | list[str] = ("direct", "potential"),
        min_supercell_length: float = 8.0,
        displacement: float = 0.01,
        mesh_length: float = 40.0,
        target_value: float | None = None,
        description: str = "",
        citation: str = "",
        split: str = "kfold",
        dos_processing: str = "smeared",
    ) -> None:
        bad = set(routes) - {"direct", "potential"}
        if bad:
            raise ValueError(f"routes must be 'direct' and/or 'potential', got {sorted(bad)}")
        if split not in ("kfold", "chen2021"):
            raise ValueError(f"split must be 'kfold' or 'chen2021', got {split!r}")
        if dos_processing not in ("smeared", "chen2021"):
            raise ValueError(f"dos_processing must be 'smeared' or 'chen2021', got {dos_processing!r}")
        self.split = split
        self.dos_processing = dos_processing
        if split == "chen2021":
            n_folds = 1
        self.name = name
        self.dataset_name = dataset
        self.dataset_params = dict(dataset_params or {})
        self._n_folds = int(n_folds)
        self.fold_seed = int(fold_seed)
        self.max_train = max_train
        self.max_test = max_test
        self.max_train_frames = max_train_frames
        self.routes = tuple(routes)
        self.min_supercell_length = float(min_supercell_length)
        self.displacement = float(displacement)
        self.mesh_length = float(mesh_length)
        self.target = target_value
        self.description = description or f"phonon DOS of {dataset}"
        self.citation = citation or getattr(self.spec, "citation", "")
        with_bands = dataset != "chen2021_phonon_dos"
        self.metrics = tuple(m for m in PHONON_METRICS if with_bands or m != "band_mae")

    # ------------------------------------------------------------------ data
    def validation_indices(self, ds, fold: int) -> np.ndarray | None:
        """The published validation structures (``split="chen2021"``), else None."""
        if self.split != "chen2021":
            return None
        from matscibench.families.phonons.chen2021 import chen2021_split

        return chen2021_split(len(ds))[1]

    def folds(self, ds) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        if self.split == "chen2021":
            from matscibench.families.phonons.chen2021 import chen2021_split

            tr, _, te = chen2021_split(len(ds))
            splits = [(tr, te)]
        else:
            splits = kfold_indices(len(ds), self._n_folds, self.fold_seed)
        for tr, te in splits:
            tr, te = np.sort(tr), np.sort(te)
            if self.max_train and len(tr) > self.max_train:
                tr = tr[np.linspace(0, len(tr) - 1, int(self.max_train)).round().astype(int)]
            if self.max_test and len(te) > self.max_test:
                te = te[np.linspace(0, len(te) - 1, int(self.max_test)).round().astype(int)]
            out.append((tr, te))
        return out

    # ------------------------------------------------------------------ models
    def incompatibility(self, model: Any) -> str | None:
        route = model_route(model)
        name = type(model).__name__
        if route is None:
            types = getattr(model, "input_types", None)
            what = f" (it takes {'/'.join(types)} inputs and predicts one value per structure)" if types else ""
            return (f"{name} is neither a structure→DOS model (fit/predict with 'phonon' in input_types) nor an ASE "
                    f"calculator{what}; task {self.name} predicts phonon DOS curves")
        if route not in self.routes:
            return f"task {self.name} runs the {'/'.join(self.routes)} route(s); {name} is a {route}-route model"
        if route == "potential":
            supported = getattr(model, "supported_elements", None)
            if supported is not None:
                missing = sorted(self._elements() - set(supported))
                if missing:
                    return f"{name} has no parameters for {', '.join(missing)}"
            if getattr(model, "periodic_ok", True) is False:
                return f"{name} handles molecules only; task {self.name} needs periodic supercells"
        return None

    def _elements(self) -> set[str]:
        try:
            return self.spec.load().elements()
        except Exception:
            return set()

    # ------------------------------------------------------------------ scoring
    def rescore(self, predictions: pd.DataFrame) -> dict[str, float]:
        out = self.score_rows(predictions)
        return {m: out.get(m, float("nan")) for m in self.metrics}

    @staticmethod
    def per_structure(grid: np.ndarray, ref: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
        """Per-structure values of every DOS-derived quantity, reference and prediction."""
        out: dict[str, np.ndarray] = {}
        for tag, g in (("ref", ref), ("pred", pred)):
            th = PHM.thermal_properties(grid, g, _T)
            out[f"avg_{tag}"] = np.atleast_1d(PHM.average_frequency(grid, g))
            out[f"max_{tag}"] = np.atleast_1d(PHM.maximum_frequency(grid, g))
            out[f"debye_{tag}"] = np.atleast_1d(PHM.debye_temperature(grid, g))
            for j, t in enumerate(_T):
                out[f"cv{t:g}_{tag}"] = th["cv"][:, j]
            j300 = _T.index(300.0)
            out[f"s300_{tag}"] = th["entropy"][:, j300]
            out[f"f300_{tag}"] = th["free_energy"][:, j300]
        out["overlap"] = np.atleast_1d(PHM.spectral_overlap(grid, ref, pred))
        r, p = PHM.max_normalize_dos(np.atleast_2d(ref)), PHM.max_normalize_dos(np.atleast_2d(pred))
        out["mse"] = np.mean((r - p) ** 2, axis=1)
        r, p = PHM.normalize_dos(grid, ref), PHM.normalize_dos(grid, pred)
        out["mse_area"] = np.mean((r - p) ** 2, axis=1)
        out["mae_area"] = np.mean(np.abs(r - p), axis=1)
        return out

    def score_rows(self, pred: pd.DataFrame) -> dict[str, float]:
        grid = np.asarray(pred["frequencies"].iloc[0], dtype=float)
        R = np.stack([np.asarray(x, float) for x in pred["dos_true"]])
        P = np.stack([np.asarray(x, float) for x in pred["dos_pred"]])
        v = self.per_structure(grid, R, P)
        out = {
            "dos_mse": float(np.mean(v["mse"])),
            "dos_mse_area": float(np.mean(v["mse_area"])),
            "dos_mae_area": float(np.mean(v["mae_area"])),
            "dos_overlap": float(np.mean(v["overlap"])),
            "avg_freq_error": float(np.mean(np.abs(v["avg_pred"] - v["avg_ref"]))),
            "max_freq_error": float(np.mean(np.abs(v["max_pred"] - v["max_ref"]))),
            "entropy_error_300K": float(np.mean(np.abs(v["s300_pred"] - v["s300_ref"]))),
            "free_energy_error_300K": float(np.mean(np.abs(v["f300_pred"] - v["f300_ref"]))),
            "debye_temperature_error": float(np.mean(np.abs(v["debye_pred"] - v["debye_ref"]))),
        }
        for t in _T:
            out[f"cv_error_{t:g}K"] = float(np.mean(PHM.relative_error_percent(v[f"cv{t:g}_ref"], v[f"cv{t:g}_pred"])))
        bands = []
        if "band_true" in pred and "band_pred" in pred:
            for _, r in pred.iterrows():
                bt, bp = r["band_true"], r["band_pred"]
                if bt is None or bp is None or (isinstance(bt, float) and np.isnan(bt)) or (isinstance(bp, float) and np.isnan(bp)):
                    continue
                nb = int(r["n_branches"])
                bands.append(PHM.band_mae(np.asarray(bt, float).reshape(-1, nb), np.asarray(bp, float).reshape(-1, nb)))
        out["band_mae"] = float(np.mean(bands)) if bands else float("nan")
        imag = pred["imaginary_branches"].to_numpy(dtype=float) if "imaginary_branches" in pred else np.zeros(len(pred))
        out["imaginary_branches"] = float(np.mean(imag))
        out["unstable_fraction"] = float(100.0 * np.mean(imag > 0))
        return out

    # ------------------------------------------------------------------ the job
    def run(self, model: Any, fold: int, ctx: JobContext) -> TaskOutput:
        meter = ctx.meter
        route = model_route(model)
        with meter.phase("load"):
            ds = self.spec.load()
            train, test = self.folds(ds)[fold]
        grid = np.asarray(ds.frequencies, dtype=float)
        if route == "direct":
            rows, costs, info, cb, fit_end = self._run_direct(model, ds, train, test, grid, meter, fold)
        elif route == "potential":
            rows, costs, info, cb, fit_end = self._run_potential(model, ds, train, test, grid, meter)
        else:  # pragma: no cover - the harness checks incompatibility first
            raise TypeError(self.incompatibility(model))
        pred = pd.DataFrame(rows)
        metrics = self.rescore(pred)
        costs["train.total_s"] = meter.phases["load"].wall_s + (meter.phases["fit"].wall_s if "fit" in meter.phases else 0.0)

        ttt_costs, source = self.time_to_target(cb, metrics, fit_end)
        costs.update(ttt_costs)
        if self.target is not None:
            info["time_to_target_source"] = source

        per_group = {}
        v = self.per_structure(grid, np.stack(pred["dos_true"].map(np.asarray)), np.stack(pred["dos_pred"].map(np.asarray)))
        for g in sorted(set(pred["group"])):
            m = (pred["group"] == g).to_numpy()
            per_group[str(g)] = {"dos_mse": float(np.mean(v["mse"][m])), "dos_mse_area": float(np.mean(v["mse_area"][m])),
                                 "dos_overlap": float(np.mean(v["overlap"][m])), "n": int(m.sum())}
        info.update({
            "route": route,
            "n_train": int(len(train)),
            "n_test": int(len(test)),
            "split_hash": split_hash(train, test),
            "dataset": ds.name,
            "dataset_checksum": ds.checksum,
            "dataset_source": ds.source,
            "labels": ds.reference,
            "unit": None,
            "frequency_grid_THz": [float(grid[0]), float(grid[-1]), int(len(grid))],
            "split": self.split,
            "dos_processing": self.dos_processing if route == "potential" else "model output",
            "per_group": per_group,
        })
        return TaskOutput(metrics=metrics, predictions=pred, info=info, costs=costs)

    def _base_row(self, ds, i: int, grid: np.ndarray) -> dict[str, Any]:
        return {"id": str(ds.ids[i]), "formula": ds.formula(i), "group": str(ds.groups[i]), "n_atoms": int(len(ds.numbers[i])),
                "frequencies": grid.tolist(), "dos_true": np.asarray(ds.dos[i], float).tolist()}

    def _run_direct(self, model, ds, train, test, grid, meter, fold: int = 0):
        X_train = ds.structures(train)
        X_test = ds.structures(test)
        Y_train = np.asarray(ds.dos[train], dtype=float)

        def score(y_true: Any, y_pred: Any) -> float:
            return PHM.dos_mse(grid, np.atleast_2d(y_true), np.atleast_2d(y_pred))

        target = self.target if self.primary_metric == "dos_mse" else None
        cb = EpochCallback("dos_mse", False, target, score, meter.record_epoch)
        kw: dict[str, Any] = {}
        if fit_accepts(model, "on_epoch"):
            kw["on_epoch"] = cb
        if fit_accepts(model, "frequencies"):
            kw["frequencies"] = grid
        val = self.validation_indices(ds, 0)
        if val is not None and fit_accepts(model, "validation_data"):
            kw["validation_data"] = (ds.structures(val), np.asarray(ds.dos[val], dtype=float))
        with meter.phase("fit"):
            model.fit(X_train, Y_train, **kw)
        fit_end = meter.elapsed()
        announce_items(model, [str(ds.ids[i]) for i in test], fold, X_test)  # a predictions file answers by id
        with meter.phase("predict"):
            Y = model.predict(X_test)
        Y = self._check_dos(Y, ds, test, grid)
        band_pred = None
        if ds.has_bands and hasattr(model, "predict_bands"):
            with meter.phase("predict_bands"):
                band_pred = model.predict_bands(X_test, [ds.band_qpoints[i] for i in test])
        rows = []
        for k, i in enumerate(test):
            row = self._base_row(ds, i, grid)
            row["dos_pred"] = PHM.normalize_dos(grid, Y[k]).tolist()
            if ds.has_bands:
                nb = 3 * len(ds.numbers[i])
                row["band_true"] = ds.band_frequencies[i].ravel().tolist()
                bp = None
                if band_pred is not None:
                    b = np.asarray(band_pred[k], dtype=float)
                    if b.shape != ds.band_frequencies[i].shape or not np.isfinite(b).all():
                        raise ModelOutputError(f"predict_bands returned shape {b.shape} for {ds.ids[i]}; expected "
                                               f"{ds.band_frequencies[i].shape} finite frequencies (THz)")
                    bp = b.ravel().tolist()
                row["band_pred"] = bp
                row["n_branches"] = nb
            row["imaginary_branches"] = 0
            rows.append(row)
        pred_s = meter.phases["predict"].wall_s
        n_atoms = float(sum(len(ds.numbers[i]) for i in test))
        costs = {
            "predict.throughput_structures_per_s": len(test) / pred_s if pred_s > 0 else float("nan"),
            "predict.throughput_atoms_per_s": n_atoms / pred_s if pred_s > 0 else float("nan"),
        }
        return rows, costs, {}, cb, fit_end

    def _check_dos(self, Y: Any, ds, test, grid) -> np.ndarray:
        if Y is None:
            raise ModelOutputError(f"predict returned None for {len(test)} structures")
        try:
            Y = np.asarray(Y, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ModelOutputError(f"predict returned something that is not a numeric array: {exc}") from exc
        if Y.shape != (len(test), len(grid)):
            raise ModelOutputError(f"predict returned shape {Y.shape}; expected ({len(test)}, {len(grid)}): one DOS per "
                                   f"structure on the task's {len(grid)}-point grid ({grid[0]:g}-{grid[-1]:g} THz)")
        bad = ~np.isfinite(Y).all(axis=1)
        if bad.any():
            k = int(np.nonzero(bad)[0][0])
            raise ModelOutputError(f"predict returned non-finite DOS values for {int(bad.sum())} structure(s) "
                                   f"(first: {ds.ids[test[k]]} {ds.formula(int(test[k]))})")
        return Y

    def _fit_potential(self, model, ds, train, meter) -> tuple[EpochCallback, dict[str, Any]]:
        """A trainable potential's ``fit`` on the labelled supercells of the training structures
        (at most ``max_train_frames``, evenly spaced); skipped on a dataset without them."""

        def score(f_true: Any, f_pred: Any) -> float:
            ft = np.asarray(f_true, float).ravel()
            fp = np.asarray(f_pred, float).ravel()
            return float(np.mean(np.abs(ft - fp)) * 1e3)

        cb = EpochCallback("force_mae", False, None, score, meter.record_epoch)
        info: dict[str, Any] = {}
        if hasattr(model, "fit") and not ds.has_frames:
            # a dataset without labelled supercells (the DFPT set) runs pretrained calculators as they are
            info["fit_skipped"] = f"dataset {ds.name} has no labelled supercells to train on"
        elif hasattr(model, "fit"):
            with meter.phase("fit"):
                frames = ds.frames_of(train)
                if self.max_train_frames and len(frames) > self.max_train_frames:
                    keep = np.linspace(0, len(frames) - 1, int(self.max_train_frames)).round().astype(int)
                    frames = [frames[i] for i in keep]
                info["n_train_frames"] = len(frames)
                model.fit(frames, on_epoch=cb) if fit_accepts(model, "on_epoch") else model.fit(frames)
        return cb, info

    def _run_potential(self, model, ds, train, test, grid, meter):
        from matscibench.sim.phonopy import compute_phonons, supercell_matrix_for

        cb, info = self._fit_potential(model, ds, train, meter)
        fit_end = meter.elapsed()
        sigma = float(ds.sigma_THz or (grid[1] - grid[0]))
        # the reference's q-mesh: phonopy's length-based mesh (a generalised regular grid for
        # oblique cells, which its three mesh numbers alone do not reproduce)
        mesh = float(ds.info.get("params", {}).get("mesh_length", self.mesh_length))
        rows, walls, calls, sc_atoms, force_s = [], [], [], [], []
        with meter.phase("predict"):
            for i in test:
                i = int(i)
                desc = f"{ds.ids[i]} ({ds.formula(i)})"
                if ds.supercell_matrices is not None:
                    P, disps = ds.supercell_matrices[i], ds.displacements[i]
                    positions = ds.supercell_positions(i)
                else:
                    P, disps, positions = supercell_matrix_for(ds.cells[i], self.min_supercell_length), None, None
                q = ds.band_qpoints[i] if ds.has_bands else None
                t0 = time.perf_counter()
                res = compute_phonons(ds.numbers[i], ds.cells[i], ds.frac[i], model, supercell_matrix=P,
                                      displacement=self.displacement, displacements=disps, supercell_positions=positions,
                                      mesh=mesh, band_qpoints=q, describe=f"structure {desc}")
                if self.dos_processing == "chen2021":
                    dos = PHM.chen2021_dos(res.mesh_frequencies, res.mesh_weights, grid)
                else:
                    dos = PHM.smeared_dos(res.mesh_frequencies, res.mesh_weights, grid, sigma)
                walls.append(time.perf_counter() - t0)
                calls.append(res.n_force_calls)
                sc_atoms.append(res.n_supercell_atoms)
                force_s.append(res.force_s)
                row = self._base_row(ds, i, grid)
                row["dos_pred"] = PHM.normalize_dos(grid, dos).tolist()
                if ds.has_bands:
                    row["band_true"] = ds.band_frequencies[i].ravel().tolist()
                    row["band_pred"] = np.asarray(res.band_frequencies, float).ravel().tolist()
                    row["n_branches"] = 3 * len(ds.numbers[i])
                row["imaginary_branches"] = res.imaginary_branches()
                row["min_frequency_THz"] = res.min_frequency
                row["phonon_s"] = walls[-1]
                row["force_calls"] = res.n_force_calls
                row["supercell_atoms"] = res.n_supercell_atoms
                rows.append(row)
        pred_s = meter.phases["predict"].wall_s
        n_atoms = float(sum(len(ds.numbers[i]) for i in test))
        costs = {
            "phonons.s_per_structure": float(np.mean(walls)),
            "phonons.force_calls_per_structure": float(np.mean(calls)),
            "phonons.supercell_atoms": float(np.mean(sc_atoms)),
            "phonons.ms_per_force_call": float(np.sum(force_s) / max(1, np.sum(calls)) * 1e3),
            "predict.throughput_structures_per_s": len(test) / pred_s if pred_s > 0 else float("nan"),
            "predict.throughput_atoms_per_s": n_atoms / pred_s if pred_s > 0 else float("nan"),
        }
        return rows, costs, info, cb, fit_end

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update({"dataset": self.dataset_name, "dataset_params": self.dataset_params, "routes": list(self.routes),
                  "input_type": "phonon", "task_type": "phonon", "split": self.split,
                  "dos_processing": self.dos_processing})
        return d


# ---------------------------------------------------------------------------- built-in tasks
def _factory(name: str, dataset: str, **defaults: Any):
    def factory(**params: Any) -> PhononTask:
        return PhononTask(name, dataset, **{**defaults, **params})

    return factory


def register_tasks(register) -> None:
    register(
        "emt_phonon_dos",
        _factory("emt_phonon_dos", "emt_phonons", n_folds=5, fold_seed=0, target_value=0.03,
                 description="phonon DOS, dispersion and harmonic thermodynamics of EMT metals and alloys (phonopy + EMT "
                             "reference): direct structure→DOS models and potentials through phonopy"),
    )
    register(
        "chen2021_phonon_dos",
        _factory("chen2021_phonon_dos", "chen2021_phonon_dos", split="chen2021", dos_processing="chen2021",
                 routes=("direct", "potential"),
                 description="phonon DOS of 1,522 crystals (DFPT; Chen et al. 2021's set), their published split "
                             "(1,192/141/189), DOS scored max-normalised on their 51-point grid: direct models, or "
                             "pretrained potentials through phonopy"),
    )
