"""Matbench v0.1 datasets (Dunn et al., npj Comput. Mater. 6, 138 (2020)).

Official files: ``matbench_<name>.json.gz`` served by the Materials Project, in pandas' "split"
JSON orientation (``{"index": [...], "columns": [...], "data": [[input, target], ...]}``), where
the input is a pymatgen ``Structure`` dict or a composition string. URLs, sha256 hashes and row
counts are those recorded in matminer's ``dataset_metadata.json`` (they have not changed since
2020-09-30).

The matbench repository also publishes lighter "artifacts" (``matbench_<name>.json.bz2``:
composition, target, space group, crystal system; pandas "columns" orientation), with no
structures. ``MatbenchArtifactsSpec`` loads them as composition-only datasets: real labels that a
composition model can use offline.
"""

from __future__ import annotations

import bz2
import gzip
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matscibench.data.base import CachedTableSpec, ProgressFn
from matscibench.data.cache import fetch_file, find_local
from matscibench.errors import DatasetError

__all__ = ["MATBENCH_TASKS", "MatbenchSpec", "MatbenchArtifactsSpec", "MatbenchInfo"]

_URL = "https://ml.materialsproject.org/projects/{name}.json.gz"

_CITATION = (
    "A. Dunn, Q. Wang, A. Ganose, D. Dopp, A. Jain, Benchmarking materials property prediction "
    "methods: the Matbench test set and Automatminer reference algorithm, npj Comput. Mater. 6, 138 (2020)"
)


@dataclass(frozen=True)
class MatbenchInfo:
    name: str
    target: str
    input_type: str  # structure | composition
    task_type: str  # regression | classification
    unit: str | None
    n_samples: int
    sha256: str
    description: str


MATBENCH_TASKS: dict[str, MatbenchInfo] = {
    i.name: i
    for i in [
        MatbenchInfo("matbench_dielectric", "n", "structure", "regression", None, 4764,
                     "83befa09bc2ec2f4b6143afc413157827a90e5e2e42c1eb507ccfa01bf26a1d6",
                     "refractive index from DFPT (Materials Project)"),
        MatbenchInfo("matbench_expt_gap", "gap expt", "composition", "regression", "eV", 4604,
                     "783e7d1461eb83b00b2f2942da4b95fda5e58a0d1ae26b581c24cf8a82ca75b2",
                     "experimental band gap from composition (Zhuo et al. 2018)"),
        MatbenchInfo("matbench_expt_is_metal", "is_metal", "composition", "classification", None, 4921,
                     "8f2a4f9bacdcbc5c2c73615629ee7986f09d39bed40ba7db52b61b2889730887",
                     "experimental metal / non-metal from composition"),
        MatbenchInfo("matbench_glass", "gfa", "composition", "classification", None, 5680,
                     "36beb654e2a463ee2a6572105bea0ca2961eee7c7b26a25377bff2c3b338e53a",
                     "metallic glass forming ability from composition"),
        MatbenchInfo("matbench_jdft2d", "exfoliation_en", "structure", "regression", "meV/atom", 636,
                     "26057dc4524e193e32abffb296ce819b58b6e11d1278cae329a2f97817a4eddf",
                     "exfoliation energy (JARVIS-DFT)"),
        MatbenchInfo("matbench_log_gvrh", "log10(G_VRH)", "structure", "regression", "log10(GPa)", 10987,
                     "098af941f4c663270f1fe21abf20ffad6fb85ecbfcba5786ceac03983ac29da7",
                     "log10 shear modulus, Voigt-Reuss-Hill (Materials Project)"),
        MatbenchInfo("matbench_log_kvrh", "log10(K_VRH)", "structure", "regression", "log10(GPa)", 10987,
                     "44b113ddb7e23aa18731a62c74afa7e5aa654199e0db5f951c8248a00955c9cd",
                     "log10 bulk modulus, Voigt-Reuss-Hill (Materials Project)"),
        MatbenchInfo("matbench_mp_e_form", "e_form", "structure", "regression", "eV/atom", 132752,
                     "dedcb1d4ba2e3e50dbdd45ba5bc647a00e9c2bcf8f8bf556dc8e92caa39eb21f",
                     "DFT formation energy (Materials Project)"),
        MatbenchInfo("matbench_mp_gap", "gap pbe", "structure", "regression", "eV", 106113,
                     "58b65746bd88329986ed66031a2ac1369c7c522f7bc9f9081528e07097c2c057",
                     "PBE band gap (Materials Project)"),
        MatbenchInfo("matbench_mp_is_metal", "is_metal", "structure", "classification", None, 106113,
                     "9a028ed5750a4c76ca36e9f3c8d48fe0bf3fb21b76ec2289e58ae7048d527919",
                     "metal / non-metal from PBE band structure (Materials Project)"),
        MatbenchInfo("matbench_perovskites", "e_form", "structure", "regression", "eV/unit cell", 18928,
                     "4641e2417f8ec8b50096d2230864468dfa08278dc9d257c327f65d0305278483",
                     "formation energy of cubic perovskites (Castelli et al. 2012)"),
        MatbenchInfo("matbench_phonons", "last phdos peak", "structure", "regression", "cm^-1", 1265,
                     "4db551f21ec5f577e6202725f10e34dfc509aa7df3a6bdaac497da7f6dbbb9b3",
                     "frequency of the highest phonon DOS peak (Petretto et al. 2018)"),
        MatbenchInfo("matbench_steels", "yield strength", "composition", "regression", "MPa", 312,
                     "473bc4957b2ea5e6465aef84bc29bb48ac34db27d69ea4ec5f508745c6fae252",
                     "yield strength of steels from composition"),
    ]
}


def _target_values(values: list, task_type: str) -> np.ndarray:
    if task_type == "classification":
        return np.asarray([bool(v) for v in values], dtype=bool)
    return np.asarray(values, dtype=float)


#: the named sources of matbench v0.1's datasets (Dunn et al. 2020, Table 1)
MATBENCH_SOURCES: dict[str, tuple[str, ...]] = {
    "matbench_dielectric": ("Materials Project",),
    "matbench_expt_gap": ("Zhuo et al. experimental band gaps",),
    "matbench_expt_is_metal": ("Zhuo et al. experimental band gaps",),
    "matbench_glass": ("Landolt-Börnstein metallic glasses",),
    "matbench_jdft2d": ("JARVIS-DFT",),
    "matbench_log_gvrh": ("Materials Project",),
    "matbench_log_kvrh": ("Materials Project",),
    "matbench_mp_e_form": ("Materials Project",),
    "matbench_mp_gap": ("Materials Project",),
    "matbench_mp_is_metal": ("Materials Project",),
    "matbench_perovskites": ("Castelli perovskites",),
    "matbench_phonons": ("Materials Project",),
    "matbench_steels": ("Citrine steel strengths",),
}


class MatbenchSpec(CachedTableSpec):
    """An official matbench v0.1 dataset: download (or local copy) + sha256, parsed once."""

    citation = _CITATION
    license = "CC-BY 4.0 (Materials Project data); see the matbench documentation per dataset"

    def __init__(self, info: MatbenchInfo) -> None:
        self.info = info
        self.sources = MATBENCH_SOURCES.get(info.name, ())
        self.name = info.name
        self.description = info.description + f" — {info.n_samples} entries"
        self.input_type = info.input_type
        self.targets = {info.target: info.unit}
        self.relpath = f"matbench/{info.name}.json.gz"
        self.url = _URL.format(name=info.name)

    def cache_key(self) -> str:
        return f"v1-{self.info.sha256[:12]}"

    def _source_status(self) -> str:
        return "local" if find_local(self.relpath) else "download"

    def _build(self, progress: ProgressFn | None):
        def dl(done: int, total: int | None) -> None:
            if progress:
                progress(f"download {self.name}", done, total)

        path = fetch_file(self.relpath, self.info.sha256, self.url, progress=dl)
        if progress:
            progress(f"parse {self.name}", 0, None)
        try:
            with gzip.open(path, "rt") as fh:
                raw = json.load(fh)
            columns = raw["columns"]
            rows = raw["data"]
            index = raw.get("index") or list(range(len(rows)))
        except (OSError, ValueError, KeyError) as exc:
            raise DatasetError(f"{path}: not a matbench json.gz file ({exc})") from exc
        in_col = 0 if columns[0] in ("structure", "composition") else columns.index(self.input_type)
        tgt_col = columns.index(self.info.target)
        inputs = []
        if self.input_type == "structure":
            from pymatgen.core import Structure

            for i, row in enumerate(rows):
                try:
                    inputs.append(Structure.from_dict(row[in_col]))
                except Exception as exc:
                    raise DatasetError(f"{path}: record {index[i]!r} (row {i}) has an invalid structure: {exc}") from exc
                if progress and i % 5000 == 0:
                    progress(f"parse {self.name}", i, len(rows))
        else:
            from pymatgen.core import Composition

            for i, row in enumerate(rows):
                try:
                    inputs.append(Composition(row[in_col]))
                except Exception as exc:
                    raise DatasetError(f"{path}: record {index[i]!r} (row {i}) has an invalid composition: {exc}") from exc
        targets = pd.DataFrame({self.info.target: _target_values([r[tgt_col] for r in rows], self.info.task_type)})
        return inputs, targets, np.asarray(index, dtype=object), self.info.sha256, self.url, None


#: sha256 of the artifacts in materialsproject/matbench @ 936176db (scripts/artifacts/)
ARTIFACT_SHA256 = {
    "matbench_dielectric": "828b3c40e350e146177e86fdf5812d409688fbedee29c84dea6aacb146a31d37",
    "matbench_expt_gap": "11d79ac6f2c25e23a136295e9bc37ea9ea4a9fa936c6bc366e777c1cb1c397b9",
    "matbench_expt_is_metal": "72b2b60ebe3506aae9d3498f8fbb6c0e7268ba502c0c30561b5ff90490643ba1",
    "matbench_glass": "0f907acf156830277fbcb168985cf1cd77e4598b0d4351c441967b9f5d294f21",
    "matbench_jdft2d": "57591e4c178800135bfb497246ddf4422a14fcde67f77187c66a28f9632ff20c",
    "matbench_log_gvrh": "4895201003e4da1592fe2bad4ba7c627f204e755fd929c43984b0ca5c6d34e40",
    "matbench_log_kvrh": "c61c243695d00ba290e1787b3a6c9d849a7da0b3f2339f847d1dfa173eec9d75",
    "matbench_mp_e_form": "961b8860f59ef81c6828b91dc5ce10371c7cc744c52bdd5a0433086e5295da75",
    "matbench_mp_gap": "ba32d1f0e79dc94e453e4efd3208cd288ba8e54dbef37ff700e896eafa539ac8",
    "matbench_mp_is_metal": "4fa68d3469419db0f55c70bf1131415df803b1119f7be61673058e3a4dbbba5d",
    "matbench_perovskites": "3c45312ebb0c6e5f7be4d1f2842c186d4906afbb3f8e80882f3c08bc3ba49f0a",
    "matbench_phonons": "17ce45bd20aea96fa59d8adddb08abde59934033ba5446e7ffcc4df333331790",
    "matbench_steels": "f62ab2e43009e58bdeb3cb83637359e163e065caaf9fe309fab9bb8c7ad54aac",
}
_ARTIFACT_URL = (
    "https://raw.githubusercontent.com/materialsproject/matbench/"
    "936176db18ca4cd7b38cbd957c017a5bac770c6b/scripts/artifacts/{name}.json.bz2"
)


class MatbenchArtifactsSpec(CachedTableSpec):
    """Composition + target from matbench's published artifacts (no structures).

    The row order is matbench's, so matbench's folds apply. For a structure task this is a
    composition-only view of the same labels (named ``<task>_composition``), not comparable with
    structure-based leaderboard entries.
    """

    citation = _CITATION
    license = "MIT (matbench repository); data CC-BY 4.0 (Materials Project)"
    input_type = "composition"

    def __init__(self, info: MatbenchInfo, sha256: str | None) -> None:
        self.info = info
        self.sources = MATBENCH_SOURCES.get(info.name, ())
        suffix = "" if info.input_type == "composition" else "_composition"
        self.name = info.name + suffix
        self.description = f"{info.description}, composition only (matbench artifacts)"
        self.targets = {info.target: info.unit}
        self.relpath = f"matbench_artifacts/{info.name}.json.bz2"
        self.sha256 = sha256
        self.url = _ARTIFACT_URL.format(name=info.name)

    def cache_key(self) -> str:
        return f"v1-{(self.sha256 or 'unchecked')[:12]}"

    def _source_status(self) -> str:
        return "local" if find_local(self.relpath) else "download"

    def _build(self, progress: ProgressFn | None):
        path = fetch_file(self.relpath, self.sha256, self.url)
        try:
            with bz2.open(path, "rt") as fh:
                raw = json.load(fh)
            comp = raw["composition"]
            key = self.info.target if self.info.target in raw else next(
                k for k in raw if k not in ("mbid", "composition", "spg_num", "crys_sys")
            )
            tgt = raw[key]
            ids = raw.get("mbid", {})
        except (OSError, ValueError, KeyError, StopIteration) as exc:
            raise DatasetError(f"{path}: not a matbench artifacts file ({exc})") from exc
        order = sorted(comp, key=int)
        from pymatgen.core import Composition

        inputs = []
        for k in order:
            try:
                inputs.append(Composition(comp[k]))
            except Exception as exc:
                raise DatasetError(f"{path}: record {ids.get(k, k)!r} has an invalid composition {comp[k]!r}: {exc}") from exc
        targets = pd.DataFrame({self.info.target: _target_values([tgt[k] for k in order], self.info.task_type)})
        id_arr = np.asarray([ids.get(k, k) for k in order], dtype=object)
        extra = pd.DataFrame(
            {c: [raw[c][k] for k in order] for c in ("spg_num", "crys_sys") if c in raw}
        ) if any(c in raw for c in ("spg_num", "crys_sys")) else None
        from matscibench.data.cache import sha256_file

        return inputs, targets, id_arr, self.sha256 or sha256_file(path), str(path), extra
