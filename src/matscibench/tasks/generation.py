"""Crystal generation: is what a generator makes valid, diverse, realistic and new?

The protocol and metrics of CDVAE (T. Xie, X. Fu, O.-E. Ganea, R. Barzilay, T. Jaakkola, "Crystal
Diffusion Variational Autoencoder for Periodic Material Generation", ICLR 2022): a generator is
fitted on a training split, samples ``n_samples`` crystals (the paper: 10,000), and is scored
against the test split with validity (structural, compositional), coverage (COV-R, COV-P) and the
earth mover's distance of property distributions (density, number of elements, a predicted
property); a generator that also encodes and decodes (``reconstruct``) is scored on the test set's
reconstruction (match rate, RMSE). Uniqueness and novelty (``StructureMatcher``) and, when a
potential is given, stability (energy above the training set's convex hull after relaxation) add
the S.U.N. rate. Definitions: ``matscibench.metrics.generation``.

Datasets: CDVAE's Perov-5, Carbon-24 and MP-20 (``train`` split for training, ``test`` for the
reference; ``train_split="val"`` uses the validation split instead, as the offline data folder
holds only validation and test), and the embedded EMT alloys split in two halves (offline, with
the EMT potential for stability).

Model contract (``matscibench.models.generators``): ``fit(structures)``, ``sample(n, seed)``,
optional ``reconstruct(structures)``.

Phases: ``load``, ``fit`` (training time), ``predict`` (sampling; throughput in structures/s),
``reconstruct``, ``metrics`` (with sub-phases ``validity``, ``fingerprint``, ``property_model``,
``match``, ``stability``): what the metrics themselves cost is reported too.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from matscibench.errors import ModelOutputError
from matscibench.metrics import generation as GM
from matscibench.families.base import JobContext, Task, TaskOutput

__all__ = ["GenerationTask", "GENERATION_DATASETS", "register_tasks"]


#: dataset -> (property target for the property EMD, coverage cut-offs)
GENERATION_DATASETS: dict[str, dict[str, Any]] = {
    "perov_5": {"target": "heat_ref", "cutoffs": GM.COV_CUTOFFS["perov_5"]},
    "carbon_24": {"target": "energy_per_atom", "cutoffs": GM.COV_CUTOFFS["carbon_24"]},
    "mp_20": {"target": "formation_energy_per_atom", "cutoffs": GM.COV_CUTOFFS["mp_20"]},
    # no published cut-offs: Perov-5's (both are tight, structure-sharing families)
    "emt_alloys": {"target": "formation_energy_per_atom", "cutoffs": (0.2, 4.0)},
}

_BASE_METRICS = (
    "cov_recall",
    "cov_precision",
    "validity",
    "struct_validity",
    "comp_validity",
    "density_emd",
    "n_elements_emd",
    "cov_recall_joint",
    "cov_precision_joint",
)


def _as_output_structure(obj: Any, i: int):
    """A generated item as a pymatgen Structure, None for a failed generation."""
    if obj is None:
        return None
    from matscibench.data.structures import as_structure

    try:
        s = as_structure(obj)
    except TypeError as exc:
        raise ModelOutputError(f"sample() item {i} is a {type(obj).__name__}; expected a pymatgen Structure, "
                               "an ASE Atoms or None") from exc
    if not hasattr(s, "lattice"):
        raise ModelOutputError(f"sample() item {i} is a molecule (no periodic cell); expected a crystal")
    if not s.is_ordered:
        raise ModelOutputError(f"sample() item {i} ({s.composition.reduced_formula}) is disordered; "
                               "generated crystals must have one species per site")
    return s


def _n_elements(s) -> int:
    return len({sp.symbol for sp in s.species})


def _stack(col: pd.Series, width: int) -> np.ndarray:
    rows = [np.asarray(v, dtype=float) if v is not None and len(v) == width else np.full(width, np.nan) for v in col]
    return np.vstack(rows) if rows else np.zeros((0, width))


class GenerationTask(Task):
    """Fit a generator on a training set, sample crystals, score them against a test set.

    Parameters
    ----------
    name, description: how the task is listed.
    dataset: ``"perov_5"``, ``"carbon_24"``, ``"mp_20"`` (CDVAE) or ``"emt_alloys"`` (embedded).
    train_split, test_split: CDVAE splits (``train``/``val``/``test``).
    dataset_params: for ``emt_alloys``: ``n_structures``, ``seed`` of the generated dataset.
    n_samples: crystals to generate (CDVAE: 10,000).
    max_reference: at most this many test crystals as the reference (a fixed random subset,
        the same for every model and seed); None: all.
    struct_cutoff, comp_cutoff: coverage cut-offs (default: CDVAE's for the dataset).
    n_property_samples: valid crystals drawn (seeded) for the property EMDs (CDVAE: 1,000).
    property_model, property_model_params: a registered property model (e.g. ``"sitestats_gbm"``)
        fitted on the training set's ``property_target`` to predict the property of generated
        and test crystals for ``property_emd``; None (``"none"`` in a suite file): no property EMD.
    n_match_samples: generated crystals checked for uniqueness, novelty and stability; None (the
        default): all of them, so that a mode-collapsed generator cannot look unique; a number: a
        seeded subset (relaxations for stability are the expensive part).
    match_candidates: per crystal, at most this many ``StructureMatcher`` comparisons, with the
        candidates nearest by structure fingerprint first (default 20; None: every candidate);
        match_fp_tol: and only candidates within this fingerprint distance (default None: no
        limit). Buckets of (formula, reduced sites) and a lattice test come first and lose no
        match (``matscibench.metrics.crystal_matching``); the cap is what keeps 10,000 crystals of
        one formula (Carbon-24) tractable.
    potential: ``"emt"`` (ASE's EMT), a registered potential model or an import path of an ASE
        calculator (``"none"``: no stability); enables stability and S.U.N.; hull_reference: ``"relax"`` (relax the training
        crystals with the potential) or a target column with their energies per atom (eV/atom)
        computed with that same potential (with ``potential="emt"`` the relaxed pure EMT
        elements end the hull too); stability_threshold: eV/atom above the hull counted as
        stable; relax_fmax (eV/Å), relax_steps: the relaxation.
    n_reconstruct: test crystals given to ``reconstruct`` (None: the whole reference).
    fingerprint_cache: keep structure fingerprints in the cache folder (keyed by structure).
    composition_scaler: how composition fingerprints are standardised before distances:
        ``"cdvae"`` (default: CDVAE's fixed means and standard deviations, ``CompScalerMeans`` /
        ``CompScalerStds`` of its ``cdvae/common/constants.py``, shipped with the package:
        ``GM.cdvae_composition_scaler``), ``"train"`` (mean and standard deviation of the training
        set's Magpie features; not CDVAE's: its cut-offs were set on CDVAE's statistics) or the
        path of a ``.npz`` / ``.json`` file with 132-long ``mean`` and ``std``.
    """

    family = "generation"

    def __init__(
        self,
        name: str,
        dataset: str,
        *,
        train_split: str = "train",
        test_split: str = "test",
        dataset_params: dict[str, Any] | None = None,
        n_samples: int = 10_000,
        max_reference: int | None = None,
        struct_cutoff: float | None = None,
        comp_cutoff: float | None = None,
        n_property_samples: int = 1000,
        property_model: str | None = None,
        property_model_params: dict[str, Any] | None = None,
        property_target: str | None = None,
        n_match_samples: int | None = None,
        match_candidates: int | None = 20,
        match_fp_tol: float | None = None,
        potential: str | None = None,
        hull_reference: str = "relax",
        stability_threshold: float = 0.1,
        relax_fmax: float = 0.05,
        relax_steps: int = 200,
        n_reconstruct: int | None = None,
        fingerprint_cache: bool = True,
        composition_scaler: str = "cdvae",
        split_seed: int = 0,
        description: str = "",
        citation: str = "",
    ) -> None:
        # TOML has no null: "none" or "" switches the property model or the potential off
        property_model, potential = (None if isinstance(v, str) and v.strip().lower() in ("", "none") else v
                                     for v in (property_model, potential))
        if dataset not in GENERATION_DATASETS:
            raise ValueError(f"unknown generation dataset {dataset!r}; known: {', '.join(GENERATION_DATASETS)}")
        self.name = name
        self.dataset = dataset
        self.train_split = train_split
        self.test_split = test_split
        self.dataset_params = dict(dataset_params or {})
        self.n_samples = int(n_samples)
        self.max_reference = max_reference
        cut = GENERATION_DATASETS[dataset]["cutoffs"]
        self.struct_cutoff = float(struct_cutoff if struct_cutoff is not None else cut[0])
        self.comp_cutoff = float(comp_cutoff if comp_cutoff is not None else cut[1])
        self.n_property_samples = int(n_property_samples)
        self.property_model = property_model
        self.property_model_params = dict(property_model_params or {})
        self.property_target = property_target or GENERATION_DATASETS[dataset]["target"]
        self.n_match_samples = n_match_samples
        self.match_candidates = None if match_candidates is None else int(match_candidates)
        self.match_fp_tol = None if match_fp_tol is None else float(match_fp_tol)
        self.potential = potential
        self.hull_reference = hull_reference
        self.stability_threshold = float(stability_threshold)
        self.relax_fmax = float(relax_fmax)
        self.relax_steps = int(relax_steps)
        self.n_reconstruct = n_reconstruct
        self.fingerprint_cache = bool(fingerprint_cache)
        self.composition_scaler = composition_scaler
        self.split_seed = int(split_seed)
        metrics = list(_BASE_METRICS)
        if property_model:
            metrics.append("property_emd")
        metrics += ["uniqueness", "novelty", "un_rate"]
        if potential:
            metrics += ["stable_fraction", "sun_rate"]
        metrics += ["match_rate", "recon_rmse"]
        self.metrics = tuple(metrics)
        self.description = description or f"crystal generation on {dataset}"
        self.citation = citation or (
            "T. Xie, X. Fu, O.-E. Ganea, R. Barzilay, T. Jaakkola, Crystal Diffusion Variational Autoencoder "
            "for Periodic Material Generation, ICLR 2022"
        )
        self.unit = None
        if property_model:
            try:
                self.unit = self._specs()[0].targets.get(self.property_target)
            except Exception:
                self.unit = None

    # ------------------------------------------------------------------ data
    def _specs(self) -> list:
        specs = self.__dict__.get("_spec_list")
        if specs is None:
            from matscibench.families.registry import get_dataset

            if self.dataset == "emt_alloys":
                specs = [get_dataset("emt_alloys", **self.dataset_params)]
            else:
                specs = [get_dataset(f"cdvae_{self.dataset}_{s}") for s in (self.train_split, self.test_split)]
            self.__dict__["_spec_list"] = specs
        return specs

    def n_folds(self) -> int:
        return 1

    def prepare(self, progress=None) -> None:
        for spec in self._specs():
            spec.prepare(progress)

    def data_available(self) -> bool:
        return all(spec.available_offline() for spec in self._specs())

    def dataset_checksum(self) -> str:
        sums = [spec.checksum() for spec in self._specs()]
        if len(sums) == 1:
            return sums[0]
        return hashlib.sha256("|".join(sums).encode()).hexdigest()

    def load_split(self):
        """(train structures, train targets frame, test structures, test ids, test targets,
        dataset name, checksum, source) for this task."""
        specs = self._specs()
        if self.dataset == "emt_alloys":
            ds = specs[0].load()
            perm = np.random.default_rng(self.split_seed).permutation(len(ds))
            half = len(ds) // 2
            tr, te = np.sort(perm[:half]), np.sort(perm[half:])
            return (
                [ds.inputs[i] for i in tr], ds.targets.iloc[tr].reset_index(drop=True), ds.ids[tr],
                [ds.inputs[i] for i in te], ds.ids[te], ds.targets.iloc[te].reset_index(drop=True),
                ds.name, ds.checksum, ds.source,
            )
        tr_ds, te_ds = specs[0].load(), specs[1].load()
        checksum = hashlib.sha256(f"{tr_ds.checksum}|{te_ds.checksum}".encode()).hexdigest()
        return (
            list(tr_ds.inputs), tr_ds.targets, tr_ds.ids,
            list(te_ds.inputs), te_ds.ids, te_ds.targets,
            f"{tr_ds.name} + {te_ds.name}", checksum, f"{tr_ds.source} + {te_ds.source}",
        )

    # ------------------------------------------------------------------ models
    def incompatibility(self, model: Any) -> str | None:
        types = getattr(model, "input_types", None)
        if not (callable(getattr(model, "fit", None)) and callable(getattr(model, "sample", None))):
            return (f"{type(model).__name__} has no fit/sample; task {self.name} needs a crystal generator "
                    "(fit(structures), sample(n, seed))")
        if types is not None and "generation" not in tuple(types):
            return f"{type(model).__name__} takes {'/'.join(types)} inputs; task {self.name} is a generation task"
        return None

    # ------------------------------------------------------------------ scoring
    def score(self, predictions: pd.DataFrame) -> dict[str, float]:
        """All metrics from the predictions frame (``run`` and ``rescore`` both call this)."""
        kind = predictions["kind"]
        gen = predictions[kind == "generated"]
        ref = predictions[kind == "reference"]
        out: dict[str, float] = {}
        n = len(gen)
        if n == 0:
            raise ValueError("no generated rows in the predictions")
        valid = gen["valid"].to_numpy(dtype=bool)
        out["validity"] = float(valid.mean())
        out["struct_validity"] = float(gen["valid_struct"].to_numpy(dtype=bool).mean())
        out["comp_validity"] = float(gen["valid_comp"].to_numpy(dtype=bool).mean())
        n_s, n_c = len(GM.CRYSTALNN_LABELS), 132
        mean = _stack(predictions.loc[kind == "scaler_mean", "comp_fp"], n_c)[0]
        std = _stack(predictions.loc[kind == "scaler_std", "comp_fp"], n_c)[0]
        gc = _stack(gen["comp_fp"], n_c)
        gc_ok = np.any(np.isfinite(gc), axis=1)
        gcs = GM.scale_compositions(gc, mean, std)
        gcs[~gc_ok] = np.nan  # no composition (failed generation): no distance
        cov = GM.coverage(
            _stack(gen["struct_fp"], n_s), gcs,
            _stack(ref["struct_fp"], n_s), GM.scale_compositions(_stack(ref["comp_fp"], n_c), mean, std),
            self.struct_cutoff, self.comp_cutoff, n_generated=n,
        )
        for key in ("cov_recall", "cov_precision", "cov_recall_joint", "cov_precision_joint"):
            out[key] = cov[key]
        sample = gen[gen["in_property_sample"].to_numpy(dtype=bool)]
        if len(sample):
            out["density_emd"] = GM.wasserstein_1d(sample["density"], ref["density"])
            out["n_elements_emd"] = GM.wasserstein_1d(sample["n_elements"], ref["n_elements"])
            if "property_emd" in self.metrics:
                p, q = sample["prop_pred"].to_numpy(float), ref["prop_pred"].to_numpy(float)
                if np.isfinite(p).any() and np.isfinite(q).any():
                    out["property_emd"] = GM.wasserstein_1d(p[np.isfinite(p)], q[np.isfinite(q)])
        checked = gen[gen["unique"].notna()]
        if len(checked):
            u = checked["unique"].to_numpy(float) > 0.5
            nv = checked["novel"].to_numpy(float) > 0.5
            out["uniqueness"] = float(u.mean())
            out["novelty"] = float(nv.mean())
            out["un_rate"] = float((u & nv).mean())
            # stability: only when at least one energy above the hull could be computed (a check that
            # could not run is "not computed", never 0 % stable; the job's info says why)
            eh = checked["e_above_hull"].to_numpy(float) if "e_above_hull" in checked else np.zeros(0)
            if "stable_fraction" in self.metrics and np.isfinite(eh).any():
                st = checked["stable"].to_numpy(float) > 0.5
                ok = checked["valid"].to_numpy(dtype=bool)
                out["stable_fraction"] = float(st.mean())
                out["sun_rate"] = float((st & u & nv & ok).mean())
        rec = predictions[kind == "reconstruction"]
        if len(rec):
            rms = rec["rms_dist"].to_numpy(float)
            out["match_rate"] = float(np.isfinite(rms).mean())
            if np.isfinite(rms).any():
                out["recon_rmse"] = float(np.nanmean(rms))
        return {m: out[m] for m in self.metrics if m in out}

    def rescore(self, predictions: pd.DataFrame) -> dict[str, float]:
        return self.score(predictions)

    # ------------------------------------------------------------------ helpers
    def _calculator(self):
        name = self.potential
        if name == "emt":
            from matscibench.sim.emt import FastEMT

            return FastEMT()
        from matscibench.families.registry import build_model

        calc = build_model(name)
        if not hasattr(calc, "get_potential_energy"):
            raise TypeError(f"potential {name!r} is not an ASE calculator")
        return calc

    def _elemental_energies(self) -> dict[str, float] | None:
        """Pure-element energies per atom (eV/atom) that end the convex hull besides the training
        set's unary crystals: with ``potential="emt"``, the relaxed EMT references that define the
        EMT alloys' formation energies (a training half often has no unary crystal of some
        element, and without a terminal entry no energy above the hull is defined); otherwise
        none."""
        if self.potential != "emt":
            return None
        from matscibench.sim.emt import chemical_potentials

        return dict(chemical_potentials())

    def _scaler(self, train) -> tuple[np.ndarray, np.ndarray]:
        if self.composition_scaler == "cdvae":
            return GM.cdvae_composition_scaler()
        if self.composition_scaler == "train":
            return GM.fit_scaler(GM.composition_fingerprints(train))
        import json
        from pathlib import Path

        path = Path(self.composition_scaler).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"composition_scaler file {path} does not exist (or use 'cdvae' or 'train')")
        if path.suffix == ".npz":
            data = np.load(path)
            mean, std = np.asarray(data["mean"], float), np.asarray(data["std"], float)
        else:
            data = json.loads(path.read_text())
            mean, std = np.asarray(data["mean"], float), np.asarray(data["std"], float)
        if mean.shape != (132,) or std.shape != (132,):
            raise ValueError(f"{path}: mean and std must have 132 values (Magpie features), got {mean.shape}, {std.shape}")
        return mean, np.where(std > 0, std, 1.0)

    def _stability(self, generated, valid, match_idx, match_ok, train, train_targets):
        """(energy above hull per crystal, stable flag per crystal, None or the reason why no
        energy above the hull could be computed). Only valid crystals are relaxed; a crystal whose
        relaxation or hull energy fails has NaN and counts as not stable; when none has an energy,
        the flags stay NaN so that ``score`` reports no stability at all."""
        n = len(generated)
        e_hull = np.full(n, np.nan)
        stable = np.full(n, np.nan)
        todo = [i for i in match_ok if valid[i]]
        if not todo:
            return e_hull, stable, "not computed: no valid generated crystal to relax"
        try:
            calc = self._calculator()
        except Exception as exc:  # a potential that cannot be built
            return e_hull, stable, f"not computed: potential {self.potential!r} could not be built ({exc!r})"
        e_gen, _ = GM.relax_energies([generated[i] for i in todo], calc, self.relax_fmax, self.relax_steps)
        if not np.isfinite(e_gen).any():
            return e_hull, stable, f"not computed: the relaxation with {self.potential!r} failed for every crystal"
        if self.hull_reference == "relax":
            e_ref, _ = GM.relax_energies(train, calc, self.relax_fmax, self.relax_steps)
        else:
            e_ref = train_targets[self.hull_reference].to_numpy(dtype=float)
        elemental = self._elemental_energies()
        eh = GM.energies_above_hull([generated[i].composition for i in todo], e_gen, [s.composition for s in train],
                                    e_ref, elemental_energies=elemental)
        if not np.isfinite(eh).any():
            elements = sorted({el.symbol for i in todo for el in generated[i].composition.elements})
            unary = sorted({s.composition.elements[0].symbol for s, e in zip(train, e_ref)
                            if len(s.composition.elements) == 1 and np.isfinite(e)} | set(elemental or {}))
            missing = [el for el in elements if el not in unary]
            why = (f"no elemental reference (a unary training crystal or an elemental energy) for {', '.join(missing)}"
                   if missing else "no training energies on the hull")
            return e_hull, stable, f"not computed: {why}; the convex hull is undefined"
        e_hull[todo] = eh
        stable[match_idx] = 0.0
        stable[todo] = (np.nan_to_num(eh, nan=np.inf) <= self.stability_threshold).astype(float)
        n_nan = int(np.count_nonzero(~np.isfinite(eh)))
        note = None if n_nan == 0 else (f"computed; {n_nan} of {len(todo)} valid crystals have no energy above the "
                                        "hull (relaxation failed or an element off the hull) and count as not stable")
        return e_hull, stable, note

    def _property_predictions(self, train, y, items, seed):
        from matscibench.models.base import set_seed
        from matscibench.families.registry import build_model

        model = build_model(self.property_model, self.property_model_params)
        set_seed(model, seed)
        model.fit(train, y)
        return [np.asarray(model.predict(part), dtype=float) if len(part) else np.zeros(0) for part in items]

    # ------------------------------------------------------------------ the job
    def run(self, model: Any, fold: int, ctx: JobContext) -> TaskOutput:
        from matscibench.cost.meters import phase

        meter = ctx.meter
        rng = np.random.default_rng(ctx.seed)
        n_jobs = max(1, int(ctx.threads))
        with meter.phase("load"):
            (train, train_targets, train_ids, test_all, test_ids_all, test_targets_all,
             ds_name, checksum, source) = self.load_split()
            ref_idx = np.arange(len(test_all))
            if self.max_reference and len(test_all) > int(self.max_reference):
                ref_idx = np.sort(np.random.default_rng(12345).choice(len(test_all), int(self.max_reference), replace=False))
            reference = [test_all[i] for i in ref_idx]
            ref_ids = np.asarray(test_ids_all)[ref_idx]

        with meter.phase("fit"):
            model.fit(train)
        with meter.phase("predict"):
            raw = model.sample(self.n_samples, seed=int(ctx.seed))
        if raw is None or len(raw) != self.n_samples:
            got = "None" if raw is None else str(len(raw))
            raise ModelOutputError(f"sample({self.n_samples}, seed) returned {got} items; expected {self.n_samples}")
        generated = [_as_output_structure(x, i) for i, x in enumerate(raw)]

        recon = None
        if callable(getattr(model, "reconstruct", None)):
            k = len(reference) if self.n_reconstruct is None else min(len(reference), int(self.n_reconstruct))
            with meter.phase("reconstruct"):
                out = model.reconstruct(reference[:k])
            if out is None or len(out) != k:
                raise ModelOutputError(f"reconstruct() returned {0 if out is None else len(out)} items for {k} inputs")
            recon = [_as_output_structure(x, i) for i, x in enumerate(out)]

        ok_idx = [i for i, s in enumerate(generated) if s is not None]
        ok_structs = [generated[i] for i in ok_idx]
        n = len(generated)
        with meter.phase("metrics"):
            with phase("validity"):
                v_struct = np.zeros(n, dtype=bool)
                v_comp = np.zeros(n, dtype=bool)
                for i in ok_idx:
                    v_struct[i] = GM.structure_validity(generated[i])
                    v_comp[i] = GM.composition_validity(generated[i])
                rec_valid = None
                if recon is not None:
                    rec_valid = [s is not None and GM.structure_validity(s) and GM.composition_validity(s) for s in recon]
            with phase("fingerprint") as fp_rec:
                cache = True if self.fingerprint_cache else None
                gen_keys = [GM.structure_key(s) for s in ok_structs]
                sfp = np.full((n, len(GM.CRYSTALNN_LABELS)), np.nan)
                sfp[ok_idx] = GM.fingerprints(ok_structs, n_jobs=n_jobs, cache=cache, keys=gen_keys)
                ref_fp = GM.fingerprints(reference, n_jobs=n_jobs, cache=cache)
                cfp = np.full((n, 132), np.nan)
                cfp[ok_idx] = GM.composition_fingerprints(ok_structs)
                ref_cfp = GM.composition_fingerprints(reference)
                mean, std = self._scaler(train)
                n_fp = len(ok_structs) + len(reference)
                if rec_valid is not None:  # CDVAE's RecEval: a reconstruction without a fingerprint is invalid
                    idx = [j for j, s in enumerate(recon) if s is not None]
                    rec_fp = np.full((len(recon), len(GM.CRYSTALNN_LABELS)), np.nan)
                    if idx:
                        rec_fp[idx] = GM.fingerprints([recon[j] for j in idx], n_jobs=n_jobs, cache=cache)
                    rec_valid = [bool(v) and bool(np.all(np.isfinite(rec_fp[j]))) for j, v in enumerate(rec_valid)]
                    n_fp += len(idx)
            # CDVAE's validity: structure and composition valid, and the fingerprint computable
            valid = v_struct & v_comp & np.all(np.isfinite(sfp), axis=1)

            # property statistics over a seeded sample of valid crystals (CDVAE: 1,000)
            valid_idx = np.nonzero(valid)[0]
            k = min(len(valid_idx), self.n_property_samples)
            prop_idx = np.sort(rng.choice(valid_idx, k, replace=False)) if k else np.zeros(0, int)
            in_prop = np.zeros(n, dtype=bool)
            in_prop[prop_idx] = True
            prop_gen = np.full(n, np.nan)
            prop_ref = np.full(len(reference), np.nan)
            if self.property_model:
                with phase("property_model"):
                    y = train_targets[self.property_target].to_numpy(dtype=float)
                    p_gen, p_ref = self._property_predictions(
                        train, y, [[generated[i] for i in prop_idx], reference], int(ctx.seed)
                    )
                    prop_gen[prop_idx] = p_gen
                    prop_ref[:] = p_ref

            # uniqueness, novelty (and stability): every generated crystal unless n_match_samples says otherwise
            if self.n_match_samples is None or self.n_match_samples >= n:
                match_idx = np.arange(n)
            else:
                match_idx = np.sort(rng.choice(n, int(self.n_match_samples), replace=False))
            match_ok = [i for i in match_idx if generated[i] is not None]
            unique = np.full(n, np.nan)
            novel = np.full(n, np.nan)
            match_stats: dict[str, dict[str, int]] = {"unique": {}, "novel": {}}
            with phase("match"):
                subset = [generated[i] for i in match_ok]
                sub_keys = [GM.structure_key(s) for s in subset]
                first_of: dict[str, int] = {}
                for k_, key_ in enumerate(sub_keys):
                    first_of.setdefault(key_, k_)
                distinct_pos = sorted(first_of.values())
                red_distinct = dict(zip(distinct_pos, GM.reduce_structures([subset[k_] for k_ in distinct_pos],
                                                                           n_jobs=n_jobs)))
                reduced = [red_distinct[first_of[key_]] for key_ in sub_keys]
                flags_u = GM.unique_flags(subset, sfp[match_ok], fp_tol=self.match_fp_tol,
                                          max_candidates=self.match_candidates, keys=sub_keys, n_jobs=n_jobs,
                                          reduced=reduced, stats=match_stats["unique"])
                formulas = {s.composition.reduced_formula for s in subset}
                tr_rel = [j for j, s in enumerate(train) if s.composition.reduced_formula in formulas]
                tr_fp = np.full((len(train), len(GM.CRYSTALNN_LABELS)), np.nan)
                if tr_rel:
                    tr_fp[tr_rel] = GM.fingerprints([train[j] for j in tr_rel], n_jobs=n_jobs, cache=cache)
                    n_fp += len(tr_rel)
                flags_n = GM.novel_flags(subset, train, sfp[match_ok], tr_fp, fp_tol=self.match_fp_tol,
                                         max_candidates=self.match_candidates, keys=sub_keys, n_jobs=n_jobs,
                                         reduced=reduced, stats=match_stats["novel"])
                unique[match_idx] = 0.0
                novel[match_idx] = 0.0
                unique[match_ok] = flags_u.astype(float)
                novel[match_ok] = flags_n.astype(float)
            e_hull = np.full(n, np.nan)
            stable = np.full(n, np.nan)
            stability_note = None
            if self.potential:
                with phase("stability"):
                    e_hull, stable, stability_note = self._stability(generated, valid, match_idx, match_ok, train,
                                                                     train_targets)

            rms = None
            if recon is not None:
                with phase("reconstruction_match"):
                    rms = GM.reconstruction_rms(recon, reference[: len(recon)], rec_valid, n_jobs=n_jobs)

            preds = self._frame(generated, v_struct, v_comp, valid, sfp, cfp, in_prop, prop_gen, unique, novel,
                                e_hull, stable, reference, ref_ids, ref_fp, ref_cfp, prop_ref, mean, std,
                                recon, rec_valid, rms)
            metrics = self.score(preds)

        m_wall = meter.phases["metrics"].wall_s
        p_wall = meter.phases["predict"].wall_s
        fp_wall = meter.phases["metrics/fingerprint"].wall_s
        n_atoms = sum(len(s) for s in ok_structs)
        costs = {
            "predict.throughput_structures_per_s": n / p_wall if p_wall > 0 else float("nan"),
            "predict.throughput_atoms_per_s": n_atoms / p_wall if p_wall > 0 else float("nan"),
            "train.total_s": meter.phases["load"].wall_s + meter.phases["fit"].wall_s,
            "metrics.throughput_structures_per_s": n / m_wall if m_wall > 0 else float("nan"),
            "metrics/fingerprint.throughput_structures_per_s": n_fp / fp_wall if fp_wall > 0 else float("nan"),
        }
        info = {
            "n_train": len(train),
            "n_test": len(reference),
            "n_generated": n,
            "n_failed_generations": n - len(ok_idx),
            "n_match_checked": int(len(match_idx)),
            "n_property_samples": int(len(prop_idx)),
            "split_hash": hashlib.sha256(
                ("|".join(map(str, train_ids)) + "#" + "|".join(map(str, ref_ids))).encode()
            ).hexdigest()[:16],
            "dataset": ds_name,
            "dataset_checksum": checksum,
            "dataset_source": source,
            "train_split": "half A" if self.dataset == "emt_alloys" else self.train_split,
            "test_split": "half B" if self.dataset == "emt_alloys" else self.test_split,
            "unit": self.unit,
            "coverage_cutoffs": [self.struct_cutoff, self.comp_cutoff],
            "composition_scaler": {"train": "fitted on the training set (mean, std per Magpie feature)",
                                   "cdvae": "CDVAE's fixed CompScalerMeans/CompScalerStds (cdvae/common/constants.py)"}
            .get(self.composition_scaler, str(self.composition_scaler)),
            "property_model": self.property_model,
            "potential": self.potential,
            "reconstruct": recon is not None,
            "n_structure_matcher_calls": {k: int(v.get("n_fit", 0)) for k, v in match_stats.items()},
            "match_fp_tol": self.match_fp_tol,
        }
        if self.potential:
            info["stability"] = stability_note or "computed"
        return TaskOutput(metrics=metrics, predictions=preds, info=info, costs=costs)

    def _frame(self, generated, v_struct, v_comp, valid, sfp, cfp, in_prop, prop_gen, unique, novel, e_hull,
               stable, reference, ref_ids, ref_fp, ref_cfp, prop_ref, mean, std, recon, rec_valid, rms) -> pd.DataFrame:
        rows: list[dict[str, Any]] = []
        nan = float("nan")
        for i, s in enumerate(generated):
            ok = s is not None
            rows.append({
                "kind": "generated",
                "id": f"gen-{i}",
                "formula": s.composition.reduced_formula if ok else "",
                "n_atoms": len(s) if ok else 0,
                "lattice": np.asarray(s.lattice.matrix).ravel().tolist() if ok else [],
                "species": [str(sp) for sp in s.species] if ok else [],
                "frac_coords": np.asarray(s.frac_coords).ravel().tolist() if ok else [],
                "valid_struct": bool(v_struct[i]),
                "valid_comp": bool(v_comp[i]),
                "valid": bool(valid[i]),
                "density": GM.density(s) if ok else nan,
                "n_elements": float(_n_elements(s)) if ok else nan,
                "in_property_sample": bool(in_prop[i]),
                "prop_pred": float(prop_gen[i]),
                "unique": float(unique[i]),
                "novel": float(novel[i]),
                "e_above_hull": float(e_hull[i]),
                "stable": float(stable[i]),
                "struct_fp": sfp[i].tolist(),
                "comp_fp": cfp[i].tolist(),
                "rms_dist": nan,
            })
        for j, s in enumerate(reference):
            rows.append({
                "kind": "reference", "id": str(ref_ids[j]), "formula": s.composition.reduced_formula,
                "n_atoms": len(s), "density": GM.density(s), "n_elements": float(_n_elements(s)),
                "prop_pred": float(prop_ref[j]), "struct_fp": ref_fp[j].tolist(), "comp_fp": ref_cfp[j].tolist(),
                "valid": True, "valid_struct": True, "valid_comp": True, "in_property_sample": False,
            })
        rows.append({"kind": "scaler_mean", "id": "scaler_mean", "comp_fp": np.asarray(mean).tolist()})
        rows.append({"kind": "scaler_std", "id": "scaler_std", "comp_fp": np.asarray(std).tolist()})
        if recon is not None:
            for j, s in enumerate(recon):
                ok = s is not None
                rows.append({
                    "kind": "reconstruction", "id": str(ref_ids[j]),
                    "formula": s.composition.reduced_formula if ok else "",
                    "n_atoms": len(s) if ok else 0,
                    "lattice": np.asarray(s.lattice.matrix).ravel().tolist() if ok else [],
                    "species": [str(sp) for sp in s.species] if ok else [],
                    "frac_coords": np.asarray(s.frac_coords).ravel().tolist() if ok else [],
                    "valid": bool(rec_valid[j]), "rms_dist": float(rms[j]),
                })
        df = pd.DataFrame(rows)
        for col in ("valid", "valid_struct", "valid_comp", "in_property_sample"):
            df[col] = [bool(v) if isinstance(v, (bool, np.bool_)) else False for v in df[col]]
        for col in ("lattice", "species", "frac_coords", "struct_fp", "comp_fp"):
            df[col] = [v if isinstance(v, list) else [] for v in df[col]]
        for col in ("n_atoms",):
            df[col] = df[col].fillna(0).astype(int)
        df["formula"] = df["formula"].fillna("").astype(str)
        return df

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update({
            "dataset": self.dataset,
            "train_split": self.train_split,
            "test_split": self.test_split,
            "n_samples": self.n_samples,
            "coverage_cutoffs": [self.struct_cutoff, self.comp_cutoff],
            "property_model": self.property_model,
            "potential": self.potential,
        })
        return d


def structures_from_predictions(predictions: pd.DataFrame, kind: str = "generated") -> list:
    """Rebuild the generated (or reconstructed) crystals stored in a predictions frame."""
    from pymatgen.core import Lattice, Structure

    out = []
    for _, row in predictions[predictions["kind"] == kind].iterrows():
        if len(row["species"]) == 0:
            out.append(None)
            continue
        out.append(Structure(Lattice(np.asarray(row["lattice"], float).reshape(3, 3)), list(row["species"]),
                             np.asarray(row["frac_coords"], float).reshape(-1, 3)))
    return out


# ---------------------------------------------------------------------------- built-in tasks
def _factory(name: str, dataset: str, **defaults: Any):
    def factory(**params: Any) -> GenerationTask:
        return GenerationTask(name, dataset, **{**defaults, **params})

    return factory


def register_tasks(register) -> None:
    """Generation on CDVAE's datasets (train -> test, as in the paper; ``*_val`` variants train on
    the validation split, which offline data folders hold) and on the embedded EMT alloys."""
    papers = {
        "perov_5": ("Perov-5 (18,928 ABX3 perovskites, 5 atoms per cell)", "sitestats_gbm"),
        "carbon_24": ("Carbon-24 (10,153 carbon structures, 6-24 atoms per cell)", "sitestats_gbm"),
        "mp_20": ("MP-20 (45,231 Materials Project crystals, <= 20 atoms per cell)", "sitestats_gbm"),
    }
    for ds, (what, prop) in papers.items():
        short = ds.replace("_", "")
        register(
            f"gen_{short}",
            _factory(f"gen_{short}", ds, property_model=prop,
                     description=f"crystal generation on {what}: CDVAE's metrics on 10,000 samples, train -> test"),
        )
        register(
            f"gen_{short}_val",
            _factory(f"gen_{short}_val", ds, train_split="val", property_model=prop,
                     description=f"crystal generation on {what}, validation split as the training set -> test"),
        )
    register(
        "gen_emt_alloys",
        _factory("gen_emt_alloys", "emt_alloys", n_samples=500, n_match_samples=None, potential="emt",
                 hull_reference="energy_per_atom", property_model="sitestats_gbm",
                 description="crystal generation on the embedded EMT alloys (two halves), with EMT relaxations "
                 "for stability and S.U.N."),
    )
