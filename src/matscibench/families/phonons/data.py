"""Datasets of the phonon family: the dataset record, the cache layout and the embedded EMT set.

A phonon dataset holds crystal structures with their phonon density of states (DOS) on a fixed
frequency grid (THz) and what follows from it (Cv(T), vibrational entropy and free energy, Debye
temperature, average and maximum frequency; definitions in ``families/phonons/metrics.py``), and
where it was computed here, the band structure along the standard path and the displaced
supercells with their reference energies and forces.

Embedded, generated offline and cached (``emt_phonons``): phonopy with ASE's EMT on

* the elemental metals Al, Cu, Ag, Au, Ni, Pd, Pt on fcc, bcc and hcp lattices (relaxed with
  EMT, cell and positions), and
* the first ``n_alloys`` relaxed cells of the engine's ``emt_alloys`` dataset (1-8 atoms).

For each structure (``sim.phonopy.compute_phonons``): the cell is Niggli-reduced; the supercell is the
smallest diagonal multiple of it whose three perpendicular widths are all at least
``min_supercell_length`` Å (so a sphere of that diameter fits in it); phonopy's symmetry-reduced
finite displacements of ``displacement`` Å (plus and minus where symmetry requires); EMT forces on
every displaced supercell, minus the residual forces of the undisplaced one (the relaxation stops at
0.02 eV/Å); force constants; frequencies on a Γ-centred q-mesh of phonopy's length-based density
``mesh_length`` Å (symmetry-reduced, weighted) and along seekpath's standard path (HPKOT
convention, Hinuma et al., Comput. Mater. Sci. 128, 140 (2017)) expressed in the structure's own
reciprocal basis. The DOS is the mesh frequencies broadened by Gaussians of ``sigma`` THz on the
grid, then normalised to unit area on the grid. Structures with imaginary modes (any mesh or
path frequency below -0.05 THz: dynamically unstable under EMT, which is common for random bcc
and hcp decorations) or with modes above the grid are left out, and counted. The undisplaced and
displaced supercells are kept with their EMT energies (eV) and forces (eV/Å): they are the
training frames of the potential route.

Real (``chen2021_phonon_dos``): Chen et al. (2021)'s DFPT phonon DOS, read from their CSV
(``families/phonons/chen2021.py``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matscibench.data.base import DatasetSpec, NpzCachedSpec, ProgressFn
from matscibench.errors import DatasetError
from matscibench.families.phonons import metrics as PHM
from matscibench.parallel import process_pool
from matscibench.sim.phonopy import band_path, compute_phonons, supercell_matrix_for

__all__ = [
    "PhononDataset",
    "PhononSpec",
    "pack_arrays",
    "phonon_targets",
    "frequency_grid",
    "EmtPhononSpec",
    "register_datasets",
    "THERMAL_GRID_K",
]

GENERATOR_VERSION = 1
#: temperatures (K) of the stored Cv(T), S(T), F(T) curves
THERMAL_GRID_K = tuple(float(t) for t in range(10, 1001, 10))
#: default frequency grid (THz): 0 to 15 in steps of 0.1
DEFAULT_GRID = (0.0, 15.0, 0.1)


def frequency_grid(start: float, stop: float, step: float) -> np.ndarray:
    n = int(round((stop - start) / step)) + 1
    return np.round(start + step * np.arange(n), 10)


def phonon_targets(grid: np.ndarray, dos: np.ndarray, temperatures: Sequence[float] = THERMAL_GRID_K) -> dict[str, np.ndarray]:
    """Everything derived from DOS curves (n, n_grid): thermal curves and scalar targets."""
    dos = np.atleast_2d(dos)
    th = PHM.thermal_properties(grid, dos, temperatures)
    return {
        "cv": th["cv"],
        "entropy": th["entropy"],
        "free_energy": th["free_energy"],
        "debye_temperature": np.atleast_1d(PHM.debye_temperature(grid, dos)),
        "avg_frequency": np.atleast_1d(PHM.average_frequency(grid, dos)),
        "max_frequency": np.atleast_1d(PHM.maximum_frequency(grid, dos)),
    }


# ===================================================================================== dataset
@dataclass
class PhononDataset:
    """Structures with their phonon DOS and what follows from it.

    ``cells[i]``, ``numbers[i]``, ``frac[i]`` describe structure i (Å); ``dos`` is (n, n_grid) on
    ``frequencies`` (THz), unit area; ``targets`` holds the derived arrays of ``phonon_targets``
    on ``temperatures`` (K). Computed sets also have ``bands`` (q-points and frequencies along the
    path), the phonopy set-up (``supercell_matrices``, ``mesh_numbers``, ``displacements``) and
    the labelled supercells (``frames``, ``frame_structure``).
    """

    name: str
    checksum: str
    source: str
    reference: str
    ids: np.ndarray
    numbers: list[np.ndarray]
    cells: np.ndarray
    frac: list[np.ndarray]
    frequencies: np.ndarray
    dos: np.ndarray
    targets: dict[str, np.ndarray]
    temperatures: np.ndarray
    groups: np.ndarray
    sigma_THz: float | None = None
    band_qpoints: list[np.ndarray] | None = None
    band_frequencies: list[np.ndarray] | None = None
    band_labels: list[list[tuple[int, str]]] | None = None
    supercell_matrices: np.ndarray | None = None
    mesh_numbers: np.ndarray | None = None
    displacements: list[list[tuple[int, np.ndarray]]] | None = None
    frame_arrays: dict[str, np.ndarray] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_atoms(self) -> np.ndarray:
        return np.array([len(z) for z in self.numbers], dtype=int)

    @property
    def has_frames(self) -> bool:
        return self.frame_arrays is not None and len(self.frame_arrays.get("frame_structure", ())) > 0

    @property
    def has_bands(self) -> bool:
        return self.band_frequencies is not None

    def elements(self) -> set[str]:
        from ase.data import chemical_symbols

        return {chemical_symbols[int(z)] for zs in self.numbers for z in zs}

    def atoms(self, i: int):
        from ase import Atoms

        return Atoms(numbers=self.numbers[i], cell=self.cells[i], scaled_positions=self.frac[i], pbc=True)

    def structure(self, i: int):
        from pymatgen.core import Lattice, Structure

        return Structure(Lattice(self.cells[i]), [int(z) for z in self.numbers[i]], self.frac[i], coords_are_cartesian=False)

    def structures(self, idx: Sequence[int] | None = None) -> list:
        idx = range(len(self)) if idx is None else idx
        return [self.structure(int(i)) for i in idx]

    def formula(self, i: int) -> str:
        from ase.formula import Formula

        from ase.data import chemical_symbols

        return Formula("".join(chemical_symbols[int(z)] for z in self.numbers[i])).reduce()[0].format("metal")

    def frames_of(self, structures: Sequence[int]) -> list:
        """Labelled supercells (ASE ``Atoms`` with ``info["energy"]`` eV, ``arrays["forces"]`` eV/Å,
        ``info["system"]`` = structure id, ``info["group"]`` = "undisplaced" / "displaced") of the
        given structures, in their order."""
        if not self.has_frames:
            return []
        from ase import Atoms

        fa = self.frame_arrays
        owner = fa["frame_structure"]
        offs = np.concatenate([[0], np.cumsum(fa["frame_n_atoms"])])
        sc_offs = np.concatenate([[0], np.cumsum(fa["sc_n_atoms"])])
        out = []
        for s in structures:
            s = int(s)
            zs = fa["sc_numbers"][sc_offs[s] : sc_offs[s + 1]]
            for k in np.nonzero(owner == s)[0]:
                a, b = offs[k], offs[k + 1]
                at = Atoms(numbers=zs, positions=fa["frame_positions"][a:b], cell=fa["sc_cells"][s], pbc=True)
                at.arrays["forces"] = fa["frame_forces"][a:b].copy()
                at.info = {"energy": float(fa["frame_energy"][k]), "system": str(self.ids[s]),
                           "group": "undisplaced" if fa["frame_disp_index"][k] < 0 else "displaced"}
                out.append(at)
        return out

    def supercell_positions(self, s: int) -> list[np.ndarray] | None:
        """Positions (Å) of the stored undisplaced then displaced supercells of structure ``s``."""
        if not self.has_frames:
            return None
        fa = self.frame_arrays
        offs = np.concatenate([[0], np.cumsum(fa["frame_n_atoms"])])
        ks = np.nonzero(fa["frame_structure"] == int(s))[0]
        ks = ks[np.argsort(fa["frame_disp_index"][ks], kind="stable")]
        return [fa["frame_positions"][offs[k] : offs[k + 1]] for k in ks]

    def scalar_table(self):
        """One row per structure: id, formula, group, n_atoms and the scalar targets (units in names)."""
        import pandas as pd

        T = list(self.temperatures)
        df = pd.DataFrame({"id": self.ids, "formula": [self.formula(i) for i in range(len(self))], "group": self.groups,
                           "n_atoms": self.n_atoms,
                           "avg_frequency_THz": self.targets["avg_frequency"], "max_frequency_THz": self.targets["max_frequency"],
                           "debye_temperature_K": self.targets["debye_temperature"]})
        for t in PHM.THERMAL_TEMPERATURES_K:
            if t in T:
                j = T.index(t)
                df[f"cv_{t:g}K_J_per_K_mol"] = self.targets["cv"][:, j]
                df[f"entropy_{t:g}K_J_per_K_mol"] = self.targets["entropy"][:, j]
                df[f"free_energy_{t:g}K_meV_per_atom"] = self.targets["free_energy"][:, j]
        return df


def _ragged(parts: Sequence[np.ndarray], dtype=float, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    lens = np.array([len(p) for p in parts], dtype=np.int64)
    if width is None:
        flat = np.concatenate([np.asarray(p, dtype=dtype).ravel() for p in parts]) if parts else np.empty(0, dtype)
    else:
        flat = np.concatenate([np.asarray(p, dtype=dtype).reshape(-1, width) for p in parts]) if parts else np.empty((0, width), dtype)
    return flat, lens


def _split(flat: np.ndarray, lens: np.ndarray) -> list[np.ndarray]:
    offs = np.concatenate([[0], np.cumsum(lens)])
    return [flat[offs[i] : offs[i + 1]] for i in range(len(lens))]


class PhononSpec(NpzCachedSpec):
    """A phonon dataset cached as ``<cache>/datasets/<name>/<key>.npz`` (``NpzCachedSpec``: built
    once under a file lock; checksum ``content_hash`` of the arrays). Subclasses' ``_build``
    returns (arrays, metadata) in the cache layout (see ``pack_arrays``)."""

    input_type = "structure"
    reference = "unknown"
    targets = {"dos": "1/THz (unit area)", "cv": "J/(K·mol)", "entropy": "J/(K·mol)", "free_energy": "meV/atom",
               "debye_temperature": "K", "avg_frequency": "THz", "max_frequency": "THz"}

    def load(self) -> PhononDataset:
        arr, meta = self._read()
        return _unpack(self.name, arr, meta)


def pack_arrays(
    ids: Sequence[str],
    groups: Sequence[str],
    numbers: Sequence[np.ndarray],
    cells: Sequence[np.ndarray],
    frac: Sequence[np.ndarray],
    grid: np.ndarray,
    dos: np.ndarray,
    temperatures: Sequence[float] = THERMAL_GRID_K,
    *,
    bands: Sequence[tuple[np.ndarray, np.ndarray, list]] | None = None,
    phonopy_setup: Sequence[tuple[np.ndarray, np.ndarray, list]] | None = None,
    frames: Sequence[dict[str, np.ndarray]] | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Flatten one dataset into named arrays (the cache layout)."""
    T = np.asarray(temperatures, float)
    dos = normalize_rows(grid, dos)
    derived = phonon_targets(grid, dos, T)
    z_flat, n_atoms = _ragged(numbers, np.int16)
    f_flat, _ = _ragged(frac, float, 3)
    arr: dict[str, np.ndarray] = {
        "ids": np.asarray(ids, dtype=str),
        "groups": np.asarray(groups, dtype=str),
        "n_atoms": n_atoms,
        "numbers": z_flat,
        "frac": f_flat,
        "cells": np.asarray(cells, float).reshape(-1, 3, 3),
        "grid": np.asarray(grid, float),
        "dos": dos,
        "temperatures": T,
        **{f"target_{k}": v for k, v in derived.items()},
    }
    if bands is not None:
        q_flat, n_q = _ragged([b[0] for b in bands], float, 3)
        arr["band_n_q"] = n_q
        arr["band_qpoints"] = q_flat
        arr["band_frequencies"] = np.concatenate([np.asarray(b[1], float).ravel() for b in bands]) if bands else np.empty(0)
        arr["band_labels"] = np.asarray([json.dumps(b[2], ensure_ascii=False) for b in bands], dtype=str)
    if phonopy_setup is not None:
        arr["supercell_matrices"] = np.asarray([p[0] for p in phonopy_setup], dtype=np.int64).reshape(-1, 3, 3)
        arr["mesh_numbers"] = np.asarray([p[1] for p in phonopy_setup], dtype=np.int64).reshape(-1, 3)
        d_atoms = [np.asarray([a for a, _ in p[2]], dtype=np.int64) for p in phonopy_setup]
        d_vecs = [np.asarray([v for _, v in p[2]], dtype=float).reshape(-1, 3) for p in phonopy_setup]
        arr["disp_atom"], arr["disp_n"] = _ragged(d_atoms, np.int64)
        arr["disp_vec"], _ = _ragged(d_vecs, float, 3)
    if frames is not None:
        for k in ("sc_numbers", "sc_n_atoms", "sc_cells", "frame_structure", "frame_disp_index", "frame_n_atoms",
                  "frame_positions", "frame_forces", "frame_energy"):
            arr[k] = frames[k] if isinstance(frames, dict) else None
    if extra:
        arr.update({f"extra_{k}": np.asarray(v) for k, v in extra.items()})
    return arr


def normalize_rows(grid: np.ndarray, dos: np.ndarray) -> np.ndarray:
    return PHM.normalize_dos(grid, np.atleast_2d(np.asarray(dos, float)))


def _unpack(name: str, arr: dict[str, np.ndarray], meta: dict[str, Any]) -> PhononDataset:
    n_atoms = arr["n_atoms"]
    numbers = [z.astype(int) for z in _split(arr["numbers"], n_atoms)]
    frac = _split(arr["frac"], n_atoms)
    targets = {k[len("target_"):]: v for k, v in arr.items() if k.startswith("target_")}
    ds = PhononDataset(
        name=name,
        checksum=meta["checksum"],
        source=meta.get("source", ""),
        reference=meta.get("reference", ""),
        ids=arr["ids"].astype(object),
        numbers=numbers,
        cells=arr["cells"],
        frac=frac,
        frequencies=arr["grid"],
        dos=arr["dos"],
        targets=targets,
        temperatures=arr["temperatures"],
        groups=arr["groups"].astype(object),
        sigma_THz=meta.get("sigma_THz"),
        info={k: v for k, v in meta.items() if k not in ("checksum",)},
    )
    for k, v in arr.items():
        if k.startswith("extra_"):
            ds.info.setdefault("extra", {})[k[len("extra_"):]] = v
    if "band_n_q" in arr:
        n_q = arr["band_n_q"]
        ds.band_qpoints = _split(arr["band_qpoints"], n_q)
        nb = 3 * n_atoms
        ds.band_frequencies = [f.reshape(q, b) for f, q, b in zip(_split(arr["band_frequencies"], n_q * nb), n_q, nb)]
        ds.band_labels = [[(int(i), str(s)) for i, s in json.loads(x)] for x in arr["band_labels"]]
    if "supercell_matrices" in arr:
        ds.supercell_matrices = arr["supercell_matrices"]
        ds.mesh_numbers = arr["mesh_numbers"]
        atoms = _split(arr["disp_atom"], arr["disp_n"])
        vecs = _split(arr["disp_vec"], arr["disp_n"])
        ds.displacements = [[(int(a), v) for a, v in zip(aa, vv)] for aa, vv in zip(atoms, vecs)]
    if "frame_structure" in arr:
        ds.frame_arrays = {k: arr[k] for k in ("sc_numbers", "sc_n_atoms", "sc_cells", "frame_structure", "frame_disp_index",
                                               "frame_n_atoms", "frame_positions", "frame_forces", "frame_energy")}
    return ds


# ------------------------------------------------------------------------------- EMT generation
def _elemental_candidates() -> list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]]:
    """(id, group, numbers, cell, frac) of the relaxed elemental fcc/bcc/hcp cells."""
    from ase.build import bulk
    from ase.data import atomic_numbers, reference_states

    from matscibench.sim.emt import EMT_ELEMENTS, relax_emt

    out = []
    for el in EMT_ELEMENTS:
        a = float(reference_states[atomic_numbers[el]]["a"])
        for lat in ("fcc", "bcc", "hcp"):
            if lat == "fcc":
                at = bulk(el, "fcc", a=a)
            elif lat == "bcc":
                at = bulk(el, "bcc", a=a * (0.5) ** (1 / 3))  # same volume per atom as fcc
            else:
                a_h = a / math.sqrt(2)
                at = bulk(el, "hcp", a=a_h, c=a_h * math.sqrt(8 / 3))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ok = relax_emt(at, fmax=0.005, steps=300)
            if ok:
                out.append((f"{el}-{lat}", "element", at.numbers.copy(), np.asarray(at.cell, float), at.get_scaled_positions()))
    return out


def _niggli(numbers, cell, frac):
    from ase import Atoms
    from ase.build import niggli_reduce

    at = Atoms(numbers=numbers, cell=cell, scaled_positions=frac, pbc=True)
    niggli_reduce(at)
    frac = at.get_scaled_positions(wrap=True)
    frac[np.abs(frac - 1.0) < 1e-10] = 0.0
    return at.numbers.copy(), np.asarray(at.cell, float), frac


def _phonon_record(args: tuple) -> tuple[str, dict | None]:
    """Phonons of one candidate with EMT (runs in a worker process)."""
    (sid, group, numbers, cell, frac, p) = args
    from matscibench.sim.emt import FastEMT

    numbers, cell, frac = _niggli(numbers, cell, frac)
    P = supercell_matrix_for(cell, p["min_supercell_length"])
    q, labels = band_path(cell, frac, numbers, p["band_distance"])
    grid = frequency_grid(*p["grid"])
    try:
        res = compute_phonons(numbers, cell, frac, FastEMT(), supercell_matrix=P, displacement=p["displacement"],
                              mesh=p["mesh_length"], band_qpoints=q, keep_frames=True,
                              thermal_temperatures=PHM.THERMAL_TEMPERATURES_K, describe=sid)
    except Exception as exc:  # noqa: BLE001 - a failed candidate is a reject
        return f"error: {type(exc).__name__}", None
    if res.imaginary_branches() > 0:
        return "imaginary_modes", None
    if res.max_frequency > grid[-1] - 4 * p["sigma"]:
        return "above_grid", None
    dos = PHM.smeared_dos(res.mesh_frequencies, res.mesh_weights, grid, p["sigma"])
    return "ok", {
        "id": sid, "group": group, "numbers": numbers, "cell": cell, "frac": frac,
        "dos": dos, "band_q": q, "band_f": res.band_frequencies, "labels": labels,
        "P": res.supercell_matrix, "mesh": res.mesh_numbers, "disps": res.displacements,
        "frames": res.frames, "sc_numbers": res.supercell_numbers, "sc_cell": res.supercell_cell,
        "mesh_thermal": res.mesh_thermal, "mesh_max": res.max_frequency, "total_s": res.total_s,
        "force_s": res.force_s, "n_calls": res.n_force_calls, "n_sc": res.n_supercell_atoms,
    }


def _run_chunk(chunk: list[tuple]) -> list[tuple[str, dict | None]]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # tiny matrices; threads next to another worker only cost
        return [_phonon_record(a) for a in chunk]


def _phonons_of(cands: list[tuple], workers: int, progress: ProgressFn | None) -> list[tuple[str, dict | None]]:
    """(reason, record) of every candidate, in candidate order, by chunks of 8 in ``workers``
    fork-safe processes (``parallel.process_pool``: a chunk carries all its worker needs)."""
    chunk = 8
    chunks = [cands[i : i + chunk] for i in range(0, len(cands), chunk)]
    results: list[tuple[str, dict | None]] = []
    if progress:
        progress("phonons with EMT", 0, len(cands))
    if workers == 1 or len(chunks) == 1:
        for c in chunks:
            results += _run_chunk(c)
            if progress:
                progress("phonons with EMT", len(results), len(cands))
    else:
        with process_pool(workers) as pool:
            for res in pool.map(_run_chunk, chunks):
                results += res
                if progress:
                    progress("phonons with EMT", len(results), len(cands))
    return results


class EmtPhononSpec(PhononSpec):
    """Phonons with EMT (phonopy) of elemental metals and the engine's EMT alloys.

    Parameters: ``n_alloys`` (the first n structures of ``emt_alloys`` with ``alloy_seed``),
    ``elements`` (include the elemental fcc/bcc/hcp cells), ``min_supercell_length`` (Å),
    ``displacement`` (Å), ``mesh_length`` (phonopy's length-based q-mesh density, Å), ``sigma``
    (Gaussian broadening of the DOS, THz), ``grid`` ((start, stop, step) THz), ``band_distance``
    (spacing of the path q-points, 1/Å), ``workers`` (processes; the output does not depend on it).
    """

    reference = "emt"
    sources = ("EMT phonons (generated here)",)
    citation = (
        "phonopy (Togo & Tanaka, Scr. Mater. 108, 1 (2015); Togo, J. Phys. Soc. Jpn. 92, 012001 (2023)) with EMT "
        "(Jacobsen, Stoltze, Nørskov, Surf. Sci. 366, 394 (1996)) as implemented in ASE; paths from seekpath "
        "(Hinuma et al., Comput. Mater. Sci. 128, 140 (2017)); generated by matscibench"
    )
    license = "generated locally (public domain)"

    def __init__(
        self,
        n_alloys: int = 250,
        alloy_seed: int = 0,
        elements: bool = True,
        min_supercell_length: float = 8.0,
        displacement: float = 0.01,
        mesh_length: float = 40.0,
        sigma: float = 0.2,
        grid: Sequence[float] = DEFAULT_GRID,
        band_distance: float = 0.1,
        workers: int | None = None,
    ) -> None:
        self.n_alloys = int(n_alloys)
        self.alloy_seed = int(alloy_seed)
        self.elements = bool(elements)
        self.params = {
            "min_supercell_length": float(min_supercell_length),
            "displacement": float(displacement),
            "mesh_length": float(mesh_length),
            "sigma": float(sigma),
            "grid": tuple(float(x) for x in grid),
            "band_distance": float(band_distance),
        }
        self.workers = workers
        self.name = "emt_phonons"
        self.description = (
            f"phonopy + EMT phonons of elemental metals and the first {self.n_alloys} EMT alloys (dynamically stable "
            "ones): DOS on a fixed THz grid, band structure, Cv(T), S(T), F(T), Debye temperature, displaced supercells"
        )

    def cache_key(self) -> str:
        ident = json.dumps([GENERATOR_VERSION, self.n_alloys, self.alloy_seed, self.elements, self.params], sort_keys=True)
        return "g%d-%s" % (GENERATOR_VERSION, hashlib.sha256(ident.encode()).hexdigest()[:12])

    def grid(self) -> np.ndarray:
        return frequency_grid(*self.params["grid"])

    def candidates(self) -> list[tuple]:
        from matscibench.families.registry import get_dataset

        cands: list[tuple] = []
        if self.elements:
            cands += [(sid, g, z, c, f, self.params) for sid, g, z, c, f in _elemental_candidates()]
        if self.n_alloys > 0:
            alloys = get_dataset("emt_alloys", n_structures=self.n_alloys, seed=self.alloy_seed).load()
            for sid, s in zip(alloys.ids, alloys.inputs):
                cands.append((str(sid), "alloy", np.asarray(s.atomic_numbers, int), np.asarray(s.lattice.matrix, float),
                              np.asarray(s.frac_coords, float), self.params))
        return cands

    def _build(self, progress: ProgressFn | None):
        t0 = time.perf_counter()
        cands = self.candidates()
        t_cand = time.perf_counter() - t0
        workers = max(1, int(self.workers or os.cpu_count() or 1))
        results = _phonons_of(cands, workers, progress)
        wall = time.perf_counter() - t0
        recs = [r for reason, r in results if reason == "ok"]
        rejects: dict[str, int] = {}
        for reason, _ in results:
            if reason != "ok":
                rejects[reason] = rejects.get(reason, 0) + 1
        if not recs:
            raise DatasetError(f"dataset {self.name}: no dynamically stable structure among {len(cands)} candidates ({rejects})")
        grid = self.grid()
        frames = _frames_arrays(recs)
        mesh_cv = np.asarray([r["mesh_thermal"]["cv"] for r in recs])
        arr = pack_arrays(
            [r["id"] for r in recs], [r["group"] for r in recs], [r["numbers"] for r in recs],
            [r["cell"] for r in recs], [r["frac"] for r in recs], grid, np.asarray([r["dos"] for r in recs]),
            bands=[(r["band_q"], r["band_f"], r["labels"]) for r in recs],
            phonopy_setup=[(r["P"], r["mesh"], r["disps"]) for r in recs],
            frames=frames,
            extra={"mesh_cv": mesh_cv, "mesh_max_frequency": np.asarray([r["mesh_max"] for r in recs]),
                   "n_force_calls": np.asarray([r["n_calls"] for r in recs]),
                   "supercell_atoms": np.asarray([r["n_sc"] for r in recs])},
        )
        meta = {
            "source": f"generated by matscibench (EMT phonons v{GENERATOR_VERSION}; emt_alloys n={self.n_alloys}, seed={self.alloy_seed})",
            "sigma_THz": self.params["sigma"],
            "params": self.params,
            "generation": {
                "candidates": len(cands),
                "accepted": len(recs),
                "rejected": dict(sorted(rejects.items())),
                "wall_s": round(wall, 3),
                "candidates_s": round(t_cand, 3),
                # timings stay out of the arrays (and so out of the checksum)
                "phonopy_s_total": round(float(sum(r["total_s"] for r in recs)), 3),
                "phonopy_s_per_structure_median": round(float(np.median([r["total_s"] for r in recs])), 4),
                "force_s_total": round(float(sum(r["force_s"] for r in recs)), 3),
                "workers": workers,
                "frames": int(len(frames["frame_structure"])),
                "mesh_cv_temperatures_K": list(PHM.THERMAL_TEMPERATURES_K),
            },
        }
        return arr, meta


def _frames_arrays(recs: list[dict]) -> dict[str, np.ndarray]:
    sc_numbers, sc_n, sc_cells = [], [], []
    owner, disp_idx, fn, pos, frc, en = [], [], [], [], [], []
    for s, r in enumerate(recs):
        sc_numbers.append(np.asarray(r["sc_numbers"], np.int16))
        sc_n.append(len(r["sc_numbers"]))
        sc_cells.append(r["sc_cell"])
        for k, (p, f, e) in enumerate(r["frames"]):
            owner.append(s)
            disp_idx.append(k - 1)
            fn.append(len(p))
            pos.append(p)
            frc.append(f)
            en.append(e)
    return {
        "sc_numbers": np.concatenate(sc_numbers),
        "sc_n_atoms": np.asarray(sc_n, np.int64),
        "sc_cells": np.asarray(sc_cells, float),
        "frame_structure": np.asarray(owner, np.int64),
        "frame_disp_index": np.asarray(disp_idx, np.int64),
        "frame_n_atoms": np.asarray(fn, np.int64),
        "frame_positions": np.concatenate(pos),
        "frame_forces": np.concatenate(frc),
        "frame_energy": np.asarray(en, float),
    }


def register_datasets(register: Callable[[str, Callable[..., DatasetSpec]], None]) -> None:
    from matscibench.families.phonons.chen2021 import ChenPhononDosSpec

    register("emt_phonons", EmtPhononSpec)
    register("chen2021_phonon_dos", ChenPhononDosSpec)
