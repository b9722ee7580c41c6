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

The steps live in their own modules: ``scoring`` (metrics from the predictions), ``md`` (MD
stability and NVE), ``checks`` (EOS, phonons, dimer curves), ``scaling`` (cost against size);
``relaxed`` holds ``RelaxedCellsTask`` (pretrained potentials on DFT-relaxed cells).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from matscibench.cost.meters import latency_percentiles
from matscibench.data.splits import kfold_indices, split_hash
from matscibench.errors import ModelOutputError
from matscibench.families.base import DatasetTask, JobContext, TaskOutput
from matscibench.families.potentials import scoring
from matscibench.families.potentials import metrics as PM
from matscibench.families.potentials.atoms import clean_atoms, reference_calculator, supports_stress
from matscibench.families.potentials.checks import run_diatomics, run_eos, run_phonons
from matscibench.families.potentials.md import MDSIM_MD, run_md_screen, run_mdsim, run_nve
from matscibench.families.potentials.scoring import (
    DIATOMIC_METRICS,
    EOS_METRICS,
    MD_MDSIM_METRICS,
    MD_SCREEN_METRICS,
    NVE_METRICS,
    PHONON_METRICS,
    frame_metrics,
    score_predictions,
)
from matscibench.families.potentials.scaling import run_scaling
from matscibench.models.base import EpochCallback, fit_accepts
from matscibench.models.replay import announce_items, is_replay

__all__ = ["PotentialTask", "register_tasks"]


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
    predictions_file_model = "matscibench.families.potentials.replay:PotentialReplay"

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
        self.nve = dict(nve) if nve else None
        self.diatomics = ({} if diatomics is True else dict(diatomics)) if diatomics else None
        self.metrics = self._metric_names(energy_first)
        self.citation = getattr(self.spec, "citation", "")

    def _metric_names(self, energy_first: bool) -> tuple[str, ...]:
        """The frame metrics, then those of each check the task runs (in report order)."""
        metrics = list(frame_metrics(self.energy_per, energy_first))
        if self.md:
            protocol = self.md.get("protocol", "screen")
            if protocol not in ("screen", "mdsim"):
                raise ValueError(f"md protocol must be 'screen' or 'mdsim', got {protocol!r}")
            if protocol == "mdsim":
                metrics += MD_MDSIM_METRICS
            else:
                metrics += MD_SCREEN_METRICS if self.reference else MD_SCREEN_METRICS[:2]
        if self.nve:
            metrics += NVE_METRICS
        if self.diatomics is not None:
            metrics += DIATOMIC_METRICS
        if self.eos and self.reference:
            metrics += EOS_METRICS
        if self.phonons and self.reference:
            metrics += PHONON_METRICS
        return tuple(metrics)

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
        """Errors of the frame predictions (``scoring.score_frames``)."""
        return scoring.score_frames(pred)

    def rescore(self, predictions: pd.DataFrame) -> dict[str, float]:
        out = score_predictions(predictions)
        return {m: out.get(m, float("nan")) for m in self.metrics}

    def _md_metrics(self, md_rows: pd.DataFrame) -> dict[str, float]:
        return scoring.md_metrics(md_rows)

    # ------------------------------------------------------------------ the job
    def run(self, model: Any, fold: int, ctx: JobContext) -> TaskOutput:
        meter = ctx.meter
        with meter.phase("load"):
            ds = self.spec.load()
            train, test = self.folds(ds)[fold]
            train_frames = [ds.frames[i] for i in train]
            test_frames = [ds.frames[i] for i in test]
        announce_items(model, [str(int(i)) for i in test], fold, test_frames)  # a predictions file answers by frame id
        stress = ds.periodic and supports_stress(model)
        cb = self._fit(model, train_frames, meter)
        fit_end = meter.elapsed()
        with meter.phase("predict"):
            frames_df, call_times = self._predict_frames(model, test, test_frames, stress)
        costs = self._predict_costs(frames_df, call_times, meter)
        costs.update(self._latency(model, test_frames, ctx))
        extra_rows, info = self._checks_in_use(model, ds, fold, train_frames, test_frames, ctx, costs)
        pred = pd.concat([frames_df, pd.DataFrame(extra_rows)], ignore_index=True) if extra_rows else frames_df
        metrics = self.rescore(pred)
        ttt_costs, source = self.time_to_target(cb, metrics, fit_end)
        costs.update(ttt_costs)
        if self.target is not None:
            info["time_to_target_source"] = source
        info.update({
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
            "per_group": self._per_group(frames_df),
            "stress_evaluated": bool(stress),
        })
        return TaskOutput(metrics=metrics, predictions=pred, info=info, costs=costs)

    def _fit(self, model: Any, train_frames: list, meter) -> EpochCallback:
        """``model.fit`` on the training frames (with ``on_epoch`` when it takes it); the callback
        records validation force MAEs in meV/Å."""

        def score(f_true: Any, f_pred: Any) -> float:
            return PM.force_errors(f_true, f_pred)[0]

        cb = EpochCallback("force_mae", False, self.target, score, meter.record_epoch)
        if hasattr(model, "fit"):
            with meter.phase("fit"):
                model.fit(train_frames, on_epoch=cb) if fit_accepts(model, "on_epoch") else model.fit(train_frames)
        return cb

    @staticmethod
    def _predict_frame(model: Any, idx: int, fr, stress: bool) -> tuple[dict[str, Any], float]:
        """(prediction row, seconds of the energy+forces call) of one test frame."""
        at = clean_atoms(fr)
        at.calc = model
        t = time.perf_counter()
        e = at.get_potential_energy()
        f = at.get_forces()
        dt = time.perf_counter() - t
        s = at.get_stress(voigt=True) if stress and "stress" in fr.info else None
        e = float(e)
        f = np.asarray(f, dtype=float)
        if not math.isfinite(e) or f.shape != (len(fr), 3) or not np.isfinite(f).all():
            raise ModelOutputError(
                f"frame {int(idx)} ({fr.info.get('system')}, {fr.info.get('group')}): energy {e}, forces of "
                f"shape {f.shape} with {int((~np.isfinite(f)).sum()) if f.size else 0} non-finite values; "
                f"expected a finite energy and ({len(fr)}, 3) finite forces"
            )
        row = {
            "kind": "frame",
            "id": str(int(idx)),
            "system": fr.info.get("system", ""),
            "group": fr.info.get("group", ""),
            "n_atoms": len(fr),
            "energy_true": float(fr.info["energy"]),
            "energy_pred": e,
            "forces_true": np.asarray(fr.arrays["forces"], float).ravel().tolist() if "forces" in fr.arrays else None,
            "forces_pred": f.ravel().tolist(),
            "stress_true": np.asarray(fr.info["stress"], float).tolist() if s is not None else None,
            "stress_pred": np.asarray(s, float).tolist() if s is not None else None,
        }
        return row, dt

    def _predict_frames(self, model: Any, test: np.ndarray, test_frames: list, stress: bool) -> tuple[pd.DataFrame, list[float]]:
        rows, call_times = [], []
        for idx, fr in zip(test, test_frames):
            row, dt = self._predict_frame(model, idx, fr, stress)
            rows.append(row)
            call_times.append(dt)
        return pd.DataFrame(rows), call_times

    def _per_group(self, frames_df: pd.DataFrame) -> dict[str, dict[str, float]]:
        per_group = {}
        for g, sub in frames_df.groupby("group"):
            sc = self.score_frames(sub)
            per_group[str(g)] = {"force_mae": sc["force_mae"], "energy_mae_per_structure": sc["energy_mae_per_structure"],
                                 "energy_mae_per_atom": sc["energy_mae_per_atom"], "n": int(len(sub))}
        return per_group

    @staticmethod
    def _predict_costs(frames_df: pd.DataFrame, call_times: list[float], meter) -> dict[str, float]:
        pred_s = meter.phases["predict"].wall_s
        n_atoms_total = float(frames_df["n_atoms"].sum())
        return {
            "predict.ms_per_call": float(np.median(call_times) * 1e3),
            "predict.throughput_structures_per_s": len(frames_df) / pred_s if pred_s > 0 else float("nan"),
            "predict.throughput_atoms_per_s": n_atoms_total / pred_s if pred_s > 0 else float("nan"),
            "train.total_s": meter.phases["load"].wall_s + (meter.phases["fit"].wall_s if "fit" in meter.phases else 0.0),
        }

    @staticmethod
    def _latency(model: Any, test_frames: list, ctx: JobContext) -> dict[str, float]:
        """Latency percentiles of one energy+forces call (``predict.*``), unless the harness says no."""
        if not ctx.options.get("latency", True) or is_replay(model):
            return {}
        with ctx.meter.phase("latency"):

            def one_call(batch):
                at = clean_atoms(batch[0])
                at.calc = model
                at.get_forces()

            lat = latency_percentiles(one_call, test_frames, 1, warmup=2,
                                      max_batches=int(ctx.options.get("latency_max_batches", 30)),
                                      budget_s=float(ctx.options.get("latency_budget_s", 2.0)),
                                      rng=np.random.default_rng(ctx.seed))
        return {f"predict.{k}": v for k, v in lat.items()}

    def _checks_in_use(self, model: Any, ds, fold: int, train_frames: list, test_frames: list, ctx: JobContext,
                       costs: dict[str, float]) -> tuple[list[dict], dict[str, Any]]:
        """The checks the task runs (MD, EOS, phonons, NVE, dimers, scaling), each in its own
        phase: (their prediction rows, info); their costs go into ``costs``."""
        meter, periodic = ctx.meter, ds.periodic
        rows: list[dict] = []
        info: dict[str, Any] = {}
        if is_replay(model):  # a file holds the test frames' answers only: no MD, EOS, ... (NaN)
            info["checks_in_use"] = "not run: the model is a predictions file (they need a live calculator)"
            return rows, info
        ref = reference_calculator(self.reference, periodic) if self.reference else None
        if self.md and self.md.get("protocol", "screen") == "mdsim":
            if fold in self.md.get("folds", [0]):
                with meter.phase("md"):
                    md_rows, md_costs = self._run_mdsim(model, test_frames, train_frames + test_frames, ctx.seed)
                rows += md_rows
                costs.update(md_costs)
        elif self.md:
            with meter.phase("md"):
                md_rows, md_costs = self._run_md(model, ref, test_frames, ctx.seed)
            rows += md_rows
            costs.update(md_costs)
        if self.eos and periodic and self.reference:
            with meter.phase("eos"):
                rows += self._run_eos(model, ref, ds)
        if self.phonons and periodic and self.reference:
            with meter.phase("phonons"):
                rows += self._run_phonons(model, ref, ds)
        if self.nve:
            with meter.phase("nve"):
                rows.append(self._run_nve(model, test_frames[0], ctx.seed))
        if self.diatomics is not None:
            with meter.phase("diatomics"):
                rows += self._run_diatomics(model, ds)
        if self.scaling:
            with meter.phase("scaling"):
                table, sc_costs = self._run_scaling(model, test_frames[0], periodic)
            costs.update(sc_costs)
            info["scaling"] = table
        return rows, info

    # ------------------------------------------------------------------ the checks, with this task's settings
    def _run_md(self, model, ref, frames, seed: int) -> tuple[list[dict], dict[str, float]]:
        return run_md_screen(model, ref, frames, seed, self.md)

    def _run_mdsim(self, model, frames, ref_frames, seed: int) -> tuple[list[dict], dict[str, float]]:
        return run_mdsim(model, frames, ref_frames, seed, self.md, self.name)

    def _run_nve(self, model, frame, seed: int) -> dict:
        return run_nve(model, frame, seed, self.nve)

    def _run_eos(self, model, ref, ds) -> list[dict]:
        return run_eos(model, ref, ds)

    def _run_phonons(self, model, ref, ds) -> list[dict]:
        return run_phonons(model, ref, ds)

    def _run_diatomics(self, model, ds) -> list[dict]:
        return run_diatomics(model, ds, self.diatomics)

    def _run_scaling(self, model, frame, periodic: bool) -> tuple[list[dict], dict[str, float]]:
        return run_scaling(model, frame, periodic, self.scaling)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update({"dataset": self.dataset_name, "dataset_params": self.dataset_params, "split": self.split,
                  "input_type": "atoms", "task_type": "potential", "reference": self.reference})
        return d


# ---------------------------------------------------------------------------- built-in tasks
def _factory(name: str, dataset: str, **defaults: Any):
    def factory(**params: Any) -> PotentialTask:
        return PotentialTask(name, dataset, **{**defaults, **params})

    return factory


def _register_generated(register) -> None:
    """EMT metals and the xTB MD17 molecules (data generated here)."""
    from matscibench.families.potentials.data import MD17_MOLECULES

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


def _register_relaxed(register) -> None:
    """Pretrained potentials on DFT-relaxed cells (CDVAE's Perov-5 and Carbon-24)."""
    from matscibench.families.potentials.relaxed import RelaxedCellsTask

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


def _register_botnet(register) -> None:
    """BOTNet / MACE protocols (Batatia et al., arXiv:2205.06643; MACE, NeurIPS 2022): one training
    set, each test set reported apart (one task each: the model is trained again for each)."""

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


def _register_rmd17(register) -> None:
    """rMD17 on its published splits (5 x 1,000 train / 1,000 test index files when present)."""
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


def register_tasks(register) -> None:
    _register_generated(register)
    _register_relaxed(register)
    _register_botnet(register)
    _register_rmd17(register)
