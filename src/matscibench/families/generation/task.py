"""Crystal generation: is what a generator makes valid, diverse, realistic and new?

The protocol and metrics of CDVAE (T. Xie, X. Fu, O.-E. Ganea, R. Barzilay, T. Jaakkola, "Crystal
Diffusion Variational Autoencoder for Periodic Material Generation", ICLR 2022): a generator is
fitted on a training split, samples ``n_samples`` crystals (the paper: 10,000), and is scored
against the test split with validity (structural, compositional), coverage (COV-R, COV-P) and the
earth mover's distance of property distributions (density, number of elements, a predicted
property); a generator that also encodes and decodes (``reconstruct``) is scored on the test set's
reconstruction (match rate, RMSE). Uniqueness and novelty (``StructureMatcher``) and, when a
potential is given, stability (energy above the training set's convex hull after relaxation) add
the S.U.N. rate. Definitions: ``matscibench.families.generation.metrics``.

Datasets: CDVAE's Perov-5, Carbon-24 and MP-20 (``train`` split for training, ``test`` for the
reference; ``train_split="val"`` uses the validation split instead, as the offline data folder
holds only validation and test), and the embedded EMT alloys split in two halves (offline, with
the EMT potential for stability).

Model contract (``matscibench.families.generation.models``): ``fit(structures)``, ``sample(n, seed)``,
optional ``reconstruct(structures)``.

Phases: ``load``, ``fit`` (training time), ``predict`` (sampling; throughput in structures/s),
``reconstruct``, ``metrics`` (with sub-phases ``validity``, ``fingerprint``, ``property_model``,
``match``, ``stability``, ``reconstruction_match``): what the metrics themselves cost is reported
too. ``run`` is those steps in order (``_generate``, then ``_evaluate``: ``_validity``,
``_fingerprints``, ``_property_sample``, ``_match``, ``StabilityCheck.run``); what they compute
is collected in an ``Evaluation`` (``predictions.py``), whose frame is what ``score`` reads.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from matscibench.cost.meters import phase
from matscibench.errors import ModelOutputError
from matscibench.families.base import JobContext, Task, TaskOutput
from matscibench.families.generation import metrics as GM
from matscibench.families.generation.fingerprints import composition_fingerprints, fingerprints, structure_key
from matscibench.families.generation.matching import novel_flags, reconstruction_rms, reduce_structures, unique_flags
from matscibench.families.generation.predictions import (
    COMPOSITION_WIDTH,
    Evaluation,
    stack_column,
    structures_from_predictions,
)
from matscibench.families.generation.stability import StabilityCheck
from matscibench.sim.crystalnn import CRYSTALNN_LABELS

__all__ = ["GenerationTask", "GenerationSplit", "GENERATION_DATASETS", "register_tasks", "structures_from_predictions"]


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


def _metric_names(property_emd: bool, stability: bool) -> tuple[str, ...]:
    """The task's metrics: the property EMD with a property model, stability with a potential."""
    metrics = list(_BASE_METRICS)
    if property_emd:
        metrics.append("property_emd")
    metrics += ["uniqueness", "novelty", "un_rate"]
    if stability:
        metrics += ["stable_fraction", "sun_rate"]
    metrics += ["match_rate", "recon_rmse"]
    return tuple(metrics)


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


class GenerationSplit(NamedTuple):
    """What a generation task reads: the training crystals with their targets and ids, the test
    crystals (the reference) with their ids and targets, and the data's name, checksum and source."""

    train: list
    train_targets: pd.DataFrame
    train_ids: np.ndarray
    test: list
    test_ids: np.ndarray
    test_targets: pd.DataFrame
    dataset: str
    checksum: str
    source: str


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
    match_candidates: None (the default): every candidate of a crystal's bucket is compared
        (exact), nearest structure fingerprint first, stopping at the first match; a number caps
        the comparisons per crystal, an approximation that overestimates novelty where buckets are
        large (Carbon-24: 56 % novel with a cap of 20 against 15 % exact, 600 perturbed crystals);
        match_fp_tol: and only candidates within this fingerprint distance (default None: no
        limit). Buckets of (formula, reduced sites) and a lattice test come first and lose no
        match (``matscibench.families.generation.matching``). A cap or a tolerance is recorded in
        the results' info.
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
        ``metrics.cdvae_composition_scaler``), ``"train"`` (mean and standard deviation of the training
        set's Magpie features; not CDVAE's: its cut-offs were set on CDVAE's statistics) or the
        path of a ``.npz`` / ``.json`` file with 132-long ``mean`` and ``std``.
    """

    family = "generation"
    predictions_file_model = "matscibench.families.generation.replay:GenerationReplay"

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
        match_candidates: int | None = None,
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
        self.metrics = _metric_names(bool(property_model), bool(potential))
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

    def warm(self) -> None:
        for spec in self._specs():
            spec.load()

    def data_sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for spec in self._specs() for s in (getattr(spec, "sources", ()) or ())))

    def load_split(self) -> GenerationSplit:
        """The training and test crystals of this task (EMT alloys: two seeded halves)."""
        specs = self._specs()
        if self.dataset == "emt_alloys":
            ds = specs[0].load()
            perm = np.random.default_rng(self.split_seed).permutation(len(ds))
            half = len(ds) // 2
            tr, te = np.sort(perm[:half]), np.sort(perm[half:])
            return GenerationSplit(
                [ds.inputs[i] for i in tr], ds.targets.iloc[tr].reset_index(drop=True), ds.ids[tr],
                [ds.inputs[i] for i in te], ds.ids[te], ds.targets.iloc[te].reset_index(drop=True),
                ds.name, ds.checksum, ds.source,
            )
        tr_ds, te_ds = specs[0].load(), specs[1].load()
        checksum = hashlib.sha256(f"{tr_ds.checksum}|{te_ds.checksum}".encode()).hexdigest()
        return GenerationSplit(
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
        n_s, n_c = len(CRYSTALNN_LABELS), COMPOSITION_WIDTH
        mean = stack_column(predictions.loc[kind == "scaler_mean", "comp_fp"], n_c)[0]
        std = stack_column(predictions.loc[kind == "scaler_std", "comp_fp"], n_c)[0]
        gc = stack_column(gen["comp_fp"], n_c)
        gc_ok = np.any(np.isfinite(gc), axis=1)
        gcs = GM.scale_compositions(gc, mean, std)
        gcs[~gc_ok] = np.nan  # no composition (failed generation): no distance
        cov = GM.coverage(
            stack_column(gen["struct_fp"], n_s), gcs,
            stack_column(ref["struct_fp"], n_s), GM.scale_compositions(stack_column(ref["comp_fp"], n_c), mean, std),
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
    def stability_check(self) -> StabilityCheck:
        """The stability step as this task sets it (``potential`` must be set)."""
        return StabilityCheck(self.potential, self.hull_reference, self.stability_threshold, self.relax_fmax,
                              self.relax_steps)

    def _scaler(self, train) -> tuple[np.ndarray, np.ndarray]:
        if self.composition_scaler == "cdvae":
            return GM.cdvae_composition_scaler()
        if self.composition_scaler == "train":
            return GM.fit_scaler(composition_fingerprints(train))
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

    def _property_predictions(self, train, y, items, seed):
        from matscibench.families.registry import build_model
        from matscibench.models.base import set_seed

        model = build_model(self.property_model, self.property_model_params)
        set_seed(model, seed)
        model.fit(train, y)
        return [np.asarray(model.predict(part), dtype=float) if len(part) else np.zeros(0) for part in items]

    # ------------------------------------------------------------------ the job
    def run(self, model: Any, fold: int, ctx: JobContext) -> TaskOutput:
        meter = ctx.meter
        rng = np.random.default_rng(ctx.seed)
        with meter.phase("load"):
            split = self.load_split()
            reference, ref_ids = self._reference(split)
        generated, recon = self._generate(model, split.train, reference, meter, int(ctx.seed))
        with meter.phase("metrics"):
            ev = Evaluation(generated, reference, ref_ids, recon)
            self._evaluate(ev, split, rng, max(1, int(ctx.threads)), int(ctx.seed))
            preds = ev.frame()
            metrics = self.score(preds)
        return TaskOutput(metrics=metrics, predictions=preds, info=self._info(split, ev), costs=self._costs(meter, ev))

    def _reference(self, split: GenerationSplit) -> tuple[list, np.ndarray]:
        """The test crystals scored against (a fixed seeded subset with ``max_reference``) and their ids."""
        ref_idx = np.arange(len(split.test))
        if self.max_reference and len(split.test) > int(self.max_reference):
            ref_idx = np.sort(np.random.default_rng(12345).choice(len(split.test), int(self.max_reference), replace=False))
        return [split.test[i] for i in ref_idx], np.asarray(split.test_ids)[ref_idx]

    def _generate(self, model: Any, train: list, reference: list, meter, seed: int) -> tuple[list, list | None]:
        """Fit, sample (and reconstruct when the model can): (generated crystals, reconstructions or None)."""
        with meter.phase("fit"):
            model.fit(train)
        with meter.phase("predict"):
            raw = model.sample(self.n_samples, seed=seed)
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
        return generated, recon

    def _evaluate(self, ev: Evaluation, split: GenerationSplit, rng: np.random.Generator, n_jobs: int,
                  seed: int) -> None:
        """The metrics phase's steps, each a sub-phase of ``metrics``, in the order their random
        draws are made (property sample, then the matched subset)."""
        cache = True if self.fingerprint_cache else None
        with phase("validity"):
            self._validity(ev)
        with phase("fingerprint"):
            self._fingerprints(ev, split.train, n_jobs, cache)
        # CDVAE's validity: structure and composition valid, and the fingerprint computable
        ev.valid = ev.valid_struct & ev.valid_comp & np.all(np.isfinite(ev.struct_fp), axis=1)
        self._property_sample(ev, split, rng, seed)
        # uniqueness, novelty (and stability): every generated crystal unless n_match_samples says otherwise
        n = ev.n
        if self.n_match_samples is None or self.n_match_samples >= n:
            ev.match_idx = np.arange(n)
        else:
            ev.match_idx = np.sort(rng.choice(n, int(self.n_match_samples), replace=False))
        match_ok = [i for i in ev.match_idx if ev.generated[i] is not None]
        with phase("match"):
            self._match(ev, match_ok, split.train, n_jobs, cache)
        if self.potential:
            with phase("stability"):
                ev.e_above_hull, ev.stable, ev.stability_note = self.stability_check().run(
                    ev.generated, ev.valid, ev.match_idx, match_ok, split.train, split.train_targets)
        if ev.recon is not None:
            with phase("reconstruction_match"):
                ev.recon_rms = reconstruction_rms(ev.recon, ev.reference[: len(ev.recon)], ev.recon_valid,
                                                  n_jobs=n_jobs)

    def _validity(self, ev: Evaluation) -> None:
        """Structural and compositional validity of each generated crystal (and of the reconstructions)."""
        for i in ev.ok_idx:
            ev.valid_struct[i] = GM.structure_validity(ev.generated[i])
            ev.valid_comp[i] = GM.composition_validity(ev.generated[i])
        if ev.recon is not None:
            ev.recon_valid = [s is not None and GM.structure_validity(s) and GM.composition_validity(s)
                              for s in ev.recon]

    def _fingerprints(self, ev: Evaluation, train: list, n_jobs: int, cache: bool | None) -> None:
        """Structure and composition fingerprints of the generated and reference crystals, the
        composition scaler, and CDVAE's RecEval rule: a reconstruction without a fingerprint is invalid."""
        ok_idx = ev.ok_idx
        ok_structs = [ev.generated[i] for i in ok_idx]
        gen_keys = [structure_key(s) for s in ok_structs]
        ev.struct_fp[ok_idx] = fingerprints(ok_structs, n_jobs=n_jobs, cache=cache, keys=gen_keys)
        ev.ref_struct_fp = fingerprints(ev.reference, n_jobs=n_jobs, cache=cache)
        ev.comp_fp[ok_idx] = composition_fingerprints(ok_structs)
        ev.ref_comp_fp = composition_fingerprints(ev.reference)
        ev.scaler_mean, ev.scaler_std = self._scaler(train)
        ev.n_fingerprinted = len(ok_structs) + len(ev.reference)
        if ev.recon_valid is not None:
            recon = ev.recon
            idx = [j for j, s in enumerate(recon) if s is not None]
            rec_fp = np.full((len(recon), len(CRYSTALNN_LABELS)), np.nan)
            if idx:
                rec_fp[idx] = fingerprints([recon[j] for j in idx], n_jobs=n_jobs, cache=cache)
            ev.recon_valid = [bool(v) and bool(np.all(np.isfinite(rec_fp[j]))) for j, v in enumerate(ev.recon_valid)]
            ev.n_fingerprinted += len(idx)

    def _property_sample(self, ev: Evaluation, split: GenerationSplit, rng: np.random.Generator, seed: int) -> None:
        """Property statistics over a seeded sample of valid crystals (CDVAE: 1,000), with the
        property model's predictions when the task has one."""
        valid_idx = np.nonzero(ev.valid)[0]
        k = min(len(valid_idx), self.n_property_samples)
        ev.property_idx = np.sort(rng.choice(valid_idx, k, replace=False)) if k else np.zeros(0, int)
        ev.in_property_sample[ev.property_idx] = True
        if self.property_model:
            with phase("property_model"):
                y = split.train_targets[self.property_target].to_numpy(dtype=float)
                p_gen, p_ref = self._property_predictions(
                    split.train, y, [[ev.generated[i] for i in ev.property_idx], ev.reference], seed
                )
                ev.prop_pred[ev.property_idx] = p_gen
                ev.ref_prop_pred[:] = p_ref

    def _match(self, ev: Evaluation, match_ok: list[int], train: list, n_jobs: int, cache: bool | None) -> None:
        """Uniqueness among the checked crystals and novelty against the training set
        (``StructureMatcher``; every checked crystal is reduced once, identical copies share it)."""
        subset = [ev.generated[i] for i in match_ok]
        sub_keys = [structure_key(s) for s in subset]
        first_of: dict[str, int] = {}
        for k, key in enumerate(sub_keys):
            first_of.setdefault(key, k)
        distinct_pos = sorted(first_of.values())
        red_distinct = dict(zip(distinct_pos, reduce_structures([subset[k] for k in distinct_pos], n_jobs=n_jobs)))
        reduced = [red_distinct[first_of[key]] for key in sub_keys]
        flags_u = unique_flags(subset, ev.struct_fp[match_ok], fp_tol=self.match_fp_tol,
                               max_candidates=self.match_candidates, keys=sub_keys, n_jobs=n_jobs,
                               reduced=reduced, stats=ev.match_stats["unique"])
        formulas = {s.composition.reduced_formula for s in subset}
        tr_rel = [j for j, s in enumerate(train) if s.composition.reduced_formula in formulas]
        tr_fp = np.full((len(train), len(CRYSTALNN_LABELS)), np.nan)
        if tr_rel:
            tr_fp[tr_rel] = fingerprints([train[j] for j in tr_rel], n_jobs=n_jobs, cache=cache)
            ev.n_fingerprinted += len(tr_rel)
        flags_n = novel_flags(subset, train, ev.struct_fp[match_ok], tr_fp, fp_tol=self.match_fp_tol,
                              max_candidates=self.match_candidates, keys=sub_keys, n_jobs=n_jobs,
                              reduced=reduced, stats=ev.match_stats["novel"])
        ev.unique[ev.match_idx] = 0.0
        ev.novel[ev.match_idx] = 0.0
        ev.unique[match_ok] = flags_u.astype(float)
        ev.novel[match_ok] = flags_n.astype(float)

    def _costs(self, meter, ev: Evaluation) -> dict[str, float]:
        n = ev.n
        m_wall = meter.phases["metrics"].wall_s
        p_wall = meter.phases["predict"].wall_s
        fp_wall = meter.phases["metrics/fingerprint"].wall_s
        n_atoms = sum(len(ev.generated[i]) for i in ev.ok_idx)
        return {
            "predict.throughput_structures_per_s": n / p_wall if p_wall > 0 else float("nan"),
            "predict.throughput_atoms_per_s": n_atoms / p_wall if p_wall > 0 else float("nan"),
            "train.total_s": meter.phases["load"].wall_s + meter.phases["fit"].wall_s,
            "metrics.throughput_structures_per_s": n / m_wall if m_wall > 0 else float("nan"),
            "metrics/fingerprint.throughput_structures_per_s": (ev.n_fingerprinted / fp_wall if fp_wall > 0
                                                                else float("nan")),
        }

    def _info(self, split: GenerationSplit, ev: Evaluation) -> dict[str, Any]:
        info = {
            "n_train": len(split.train),
            "n_test": len(ev.reference),
            "n_generated": ev.n,
            "n_failed_generations": ev.n - len(ev.ok_idx),
            "n_match_checked": int(len(ev.match_idx)),
            "n_property_samples": int(len(ev.property_idx)),
            "split_hash": hashlib.sha256(
                ("|".join(map(str, split.train_ids)) + "#" + "|".join(map(str, ev.ref_ids))).encode()
            ).hexdigest()[:16],
            "dataset": split.dataset,
            "dataset_checksum": split.checksum,
            "dataset_source": split.source,
            "train_split": "half A" if self.dataset == "emt_alloys" else self.train_split,
            "test_split": "half B" if self.dataset == "emt_alloys" else self.test_split,
            "unit": self.unit,
            "coverage_cutoffs": [self.struct_cutoff, self.comp_cutoff],
            "composition_scaler": {"train": "fitted on the training set (mean, std per Magpie feature)",
                                   "cdvae": "CDVAE's fixed CompScalerMeans/CompScalerStds (cdvae/common/constants.py)"}
            .get(self.composition_scaler, str(self.composition_scaler)),
            "property_model": self.property_model,
            "potential": self.potential,
            "reconstruct": ev.recon is not None,
            "n_structure_matcher_calls": {k: int(v.get("n_fit", 0)) for k, v in ev.match_stats.items()},
            "match_fp_tol": self.match_fp_tol,
            "match_candidates": self.match_candidates,
        }
        if self.potential:
            info["stability"] = ev.stability_note or "computed"
        return info

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
