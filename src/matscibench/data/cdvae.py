"""CDVAE's CSV-with-CIF datasets: Perov-5, Carbon-24, MP-20.

Xie, Fu, Ganea, Barzilay, Jaakkola, "Crystal Diffusion Variational Autoencoder for Periodic
Material Generation", ICLR 2022. Each split is a CSV with an unnamed index column, ``material_id``,
``cif`` (a CIF written by pymatgen), ``formula`` and target columns. Perov-5 comes from Castelli
et al., Energy Environ. Sci. 5, 9034 (2012); Carbon-24 from Pickard's AIRSS carbon structures.

MP-20 (Materials Project structures from the ICSD with at most 20 atoms per cell; Jain et al.,
APL Mater. 1, 011002 (2013)) has ``formation_energy_per_atom``, ``band_gap`` and ``e_above_hull``.
Every dataset has ``train``, ``val`` and ``test`` splits (Perov-5: 11,356 / 3,785 / 3,785 rows;
Carbon-24: 6,091 / 2,030 / 2,030; MP-20: 60 / 20 / 20 % of 45,231), downloaded from the pinned commit
of the CDVAE repository (``data/<dataset>/<split>.csv``).

Known sha256 values are those of the files at the pinned commit of the CDVAE repository (Perov-5
and Carbon-24 ``val`` and ``test``). A split without a known hash (all ``train`` splits, all of
MP-20) is verified against nothing: its sha256 is computed when it is read and recorded as the
dataset checksum, so every result still names the exact file it came from.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import pandas as pd

from matscibench.data.base import CachedTableSpec, ProgressFn
from matscibench.data.cache import fetch_file, find_local, sha256_file
from matscibench.errors import DatasetError

__all__ = ["CDVAE_DATASETS", "CdvaeSpec", "parse_cif_records", "register_datasets"]

CDVAE_COMMIT = "f857f598d6f6cca5dc1ea0582d228f12dcc2c2ea"
_URL = "https://raw.githubusercontent.com/txie-93/cdvae/{commit}/data/{dataset}/{split}.csv"
_CITATION = (
    "T. Xie, X. Fu, O.-E. Ganea, R. Barzilay, T. Jaakkola, Crystal Diffusion Variational "
    "Autoencoder for Periodic Material Generation, ICLR 2022"
)


@dataclass(frozen=True)
class CdvaeInfo:
    dataset: str
    targets: dict[str, str | None]
    sha256: dict[str, str | None]
    source: str


CDVAE_DATASETS: dict[str, CdvaeInfo] = {
    "perov_5": CdvaeInfo(
        "perov_5",
        {"heat_ref": "eV/atom", "heat_all": "eV/atom", "dir_gap": "eV", "ind_gap": "eV"},
        {
            "test": "a85878c685037f0a578257f6d4fcdde00e968dbab73c5f1e90ecef65218513f6",
            "val": "326f401219901270374b71e2faff63df3a29a99fd26f469993b9f476b693daf2",
            "train": None,
        },
        "Castelli et al., Energy Environ. Sci. 5, 9034 (2012)",
    ),
    "carbon_24": CdvaeInfo(
        "carbon_24",
        {"energy_per_atom": "eV/atom"},
        {
            "test": "386b17c08816f434818d51e46687bf72ff3f92348f3ba24823e4758f1fe8a969",
            "val": "36c00689cd63073c954a58bc6ed6e2adb7aeed5a630c994970959a1babffd50e",
            "train": None,
        },
        "Pickard, AIRSS data for carbon at 10 GPa (2020)",
    ),
    "mp_20": CdvaeInfo(
        "mp_20",
        {"formation_energy_per_atom": "eV/atom", "band_gap": "eV", "e_above_hull": "eV/atom"},
        {"test": None, "val": None, "train": None},
        "Materials Project (Jain et al., APL Mater. 1, 011002 (2013)), ICSD-derived, <= 20 atoms per cell",
    ),
}


def _parse_chunk(args: tuple[str, list[tuple[int, str, str]]]):
    """Parse (row, material_id, cif) records; return (structures, None) or (None, error text)."""
    path, records = args
    from pymatgen.core import Structure

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for row, mid, cif in records:
            try:
                s = Structure.from_str(cif, fmt="cif")
                if len(s) == 0:
                    raise ValueError("no atoms")
            except Exception as exc:
                return None, f"{path}: record {mid!r} (row {row}) has a malformed CIF: {type(exc).__name__}: {exc}"
            out.append(s)
    return out, None


def parse_cif_records(
    path: str, rows: list[int], ids: list[str], cifs: list[str], workers: int | None = None
) -> list:
    """Parse CIF strings in parallel; raise ``DatasetError`` naming the first bad record."""
    records = list(zip(rows, ids, cifs))
    workers = workers or min(4, os.cpu_count() or 1)
    if len(records) < 2000 or workers == 1:
        res, err = _parse_chunk((path, records))
        if err:
            raise DatasetError(err)
        return res
    size = -(-len(records) // (workers * 4))
    chunks = [(path, records[i : i + size]) for i in range(0, len(records), size)]
    out: list = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for res, err in pool.map(_parse_chunk, chunks):
            if err:
                raise DatasetError(err)
            out.extend(res)
    return out


#: the named sources of CDVAE's datasets (Xie et al. 2022): Perov-5 from Castelli et al.'s
#: perovskites, Carbon-24 from AIRSS searches (Pickard 2020), MP-20 from the Materials Project
CDVAE_SOURCES: dict[str, tuple[str, ...]] = {
    "perov_5": ("Castelli perovskites",),
    "carbon_24": ("Carbon-24 (AIRSS)",),
    "mp_20": ("Materials Project",),
}


class CdvaeSpec(CachedTableSpec):
    """One or more splits of a CDVAE dataset, concatenated in the order given."""

    citation = _CITATION
    license = "MIT (CDVAE repository)"
    input_type = "structure"

    def __init__(self, dataset: str, splits: tuple[str, ...] = ("val", "test"), name: str | None = None) -> None:
        if dataset not in CDVAE_DATASETS:
            raise KeyError(dataset)
        self.info = CDVAE_DATASETS[dataset]
        self.sources = CDVAE_SOURCES[dataset]
        self.splits = tuple(splits)
        self.name = name or f"cdvae_{dataset}_{'+'.join(self.splits)}"
        self.description = f"CDVAE {dataset} ({' + '.join(self.splits)} splits); source: {self.info.source}"
        self.targets = dict(self.info.targets)

    def relpath(self, split: str) -> str:
        return f"cdvae/{self.info.dataset}/{split}.csv"

    def cache_key(self) -> str:
        shas = "".join((self.info.sha256.get(s) or "x")[:6] for s in self.splits)
        return f"v1-{shas}"

    def _source_status(self) -> str:
        return "local" if all(find_local(self.relpath(s)) for s in self.splits) else "download"

    def _build(self, progress: ProgressFn | None):
        frames, shas, structures, sources = [], [], [], []
        for split in self.splits:
            url = _URL.format(commit=CDVAE_COMMIT, dataset=self.info.dataset, split=split)
            path = fetch_file(self.relpath(split), self.info.sha256.get(split), url)
            sources.append(str(path))
            shas.append(self.info.sha256.get(split) or sha256_file(path))
            try:
                df = pd.read_csv(path)
            except Exception as exc:
                raise DatasetError(f"{path}: cannot read CSV: {exc}") from exc
            missing = [c for c in ["material_id", "cif", *self.targets] if c not in df.columns]
            if missing:
                raise DatasetError(f"{path}: missing column(s) {missing}; expected CDVAE's CSV-with-CIF format")
            if progress:
                progress(f"parse {self.info.dataset}/{split}.csv", 0, len(df))
            structures += parse_cif_records(
                str(path), list(range(len(df))), df["material_id"].astype(str).tolist(), df["cif"].tolist()
            )
            df = df.assign(split=split)
            frames.append(df)
            if progress:
                progress(f"parse {self.info.dataset}/{split}.csv", len(df), len(df))
        df = pd.concat(frames, ignore_index=True)
        targets = df[list(self.targets)].astype(float).reset_index(drop=True)
        ids = df["material_id"].astype(str).to_numpy(dtype=object)
        extra = df[["split", "formula"]].astype(str).reset_index(drop=True) if "formula" in df else df[["split"]]
        import hashlib

        checksum = shas[0] if len(shas) == 1 else hashlib.sha256("|".join(shas).encode()).hexdigest()
        return structures, targets, ids, checksum, " + ".join(sources), extra


def register_datasets(register) -> None:
    """``cdvae_<dataset>`` (validation + test splits) and ``cdvae_<dataset>_<split>`` for each split:
    CDVAE's structures serve several families (property tasks, generation, XRD)."""
    for ds in CDVAE_DATASETS:
        register(f"cdvae_{ds}", lambda ds=ds, splits=("val", "test"): CdvaeSpec(ds, tuple(splits), name=f"cdvae_{ds}"))
        for split in ("train", "val", "test"):
            name = f"cdvae_{ds}_{split}"
            register(name, lambda ds=ds, split=split, name=name: CdvaeSpec(ds, (split,), name=name))
