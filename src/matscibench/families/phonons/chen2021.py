"""The real phonon DOS set: Chen et al. (2021)'s CSV of DFPT phonon DOS (``chen2021_phonon_dos``).

The phonon DOS of ~1,500 crystals computed with DFPT (Petretto et al., Sci. Data 5, 180065 (2018))
as published by Chen et al., Adv. Sci. 8, 2004214 (2021) in their tutorial repository
(``ninarina12/phononDoS_tutorial``, ``data/data.csv``): columns ``structure`` (an ASE
``Atoms.todict()`` written as a Python literal with ``array(...)``), ``phfreq`` (cm⁻¹, 0-1000 in
51 points), ``phdos`` (max-normalised) and ``pdos``. No sha256 is published; git records the
file's blob id (SHA-1 of ``"blob <size>\\0" + content``), which is checked; the sha256 computed
on first read is kept in the cache metadata. The literal is parsed with ``ast`` (never ``eval``).
The split published with the CSV is ``chen2021_split``.
"""

from __future__ import annotations

import ast
import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from matscibench.data.base import ProgressFn
from matscibench.data.cache import fetch_file, find_local, verify_file
from matscibench.errors import ChecksumError, DatasetError
from matscibench.families.phonons.data import PhononSpec, pack_arrays

__all__ = [
    "ChenPhononDosSpec",
    "read_chen_csv",
    "parse_atoms_literal",
    "git_blob_sha1",
    "chen2021_split",
    "CM1_PER_THZ",
]

#: 1 THz in cm⁻¹ (1e12 / c, c in cm/s)
CM1_PER_THZ = 1e12 / 2.99792458e10

# ------------------------------------------------------------------------------- Chen et al. CSV
#: where the CSV lives: the tutorial repository at the commit that added it
CHEN_COMMIT = "e1911bb556e091a42b3df478def93bd9674fabe3"
CHEN_URL = f"https://raw.githubusercontent.com/ninarina12/phononDoS_tutorial/{CHEN_COMMIT}/data/data.csv"
#: git's blob id of data/data.csv at that commit (the only published checksum)
CHEN_GIT_BLOB_SHA1 = "a20428522cf81f93207db1dcdb1de22e5b1b4cd6"
CHEN_RELPATH = "phonon_dos_chen2021/data.csv"


def git_blob_sha1(path: str | os.PathLike) -> str:
    """git's object id of a file: SHA-1 of ``b"blob <size>\\0"`` followed by the content."""
    p = Path(path)
    h = hashlib.sha1(f"blob {p.stat().st_size}\0".encode())
    with open(p, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_SAFE_NAMES = {"True": True, "False": False, "None": None, "nan": float("nan"), "inf": float("inf")}
_DTYPE_NAMES = {"float64", "float32", "int64", "int32", "int16", "int8", "uint8", "bool", "bool_", "complex128", "object"}


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _literal(node.operand)
        return -v if isinstance(node.op, ast.USub) else +v
    if isinstance(node, ast.Name) and node.id in _SAFE_NAMES:
        return _SAFE_NAMES[node.id]
    if isinstance(node, ast.Name) and node.id in _DTYPE_NAMES:
        return f"numpy.{node.id}"  # ``dtype=float64`` as numpy's repr writes it
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("np", "numpy"):
        if node.attr in _SAFE_NAMES:
            return _SAFE_NAMES[node.attr]
        return f"numpy.{node.attr}"  # a dtype name
    if isinstance(node, ast.Call):
        fn = node.func
        name = fn.id if isinstance(fn, ast.Name) else (fn.attr if isinstance(fn, ast.Attribute) else None)
        if name == "array" and len(node.args) == 1:
            kw = {k.arg: _literal(k.value) for k in node.keywords}
            dtype = kw.get("dtype")
            data = _literal(node.args[0])
            if isinstance(dtype, str):
                dtype = dtype.replace("numpy.", "")
            try:
                return np.asarray(data, dtype=dtype) if dtype not in (None, "object") else np.asarray(data)
            except TypeError:
                return np.asarray(data)
        raise ValueError(f"call to {name!r} is not allowed in a structure literal")
    raise ValueError(f"{type(node).__name__} is not allowed in a structure literal")


def parse_atoms_literal(text: str) -> dict[str, Any]:
    """Parse ``repr(Atoms.todict())`` safely: literals and ``array(..., dtype=...)`` calls only."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not a Python literal: {exc}") from None
    out = _literal(tree.body)
    if not isinstance(out, dict):
        raise ValueError(f"expected a dict, got {type(out).__name__}")
    return out


def read_chen_csv(path: str | os.PathLike, grid: np.ndarray | None = None) -> tuple[list[str], list, np.ndarray, np.ndarray]:
    """(ids, ASE Atoms, grid in THz, DOS rows) from a CSV in Chen et al.'s format.

    ``phfreq`` (cm⁻¹) becomes THz; the DOS keeps the file's grid unless ``grid`` (THz) is given,
    in which case it is interpolated (zero outside the file's range). Rows whose structure or DOS
    cannot be read raise ``DatasetError`` naming the file and row.
    """
    import pandas as pd
    from ase import Atoms

    df = pd.read_csv(path)
    missing = {"structure", "phfreq", "phdos"} - set(df.columns)
    if missing:
        raise DatasetError(f"{path}: missing column(s) {sorted(missing)}; expected Chen et al.'s structure, phfreq, phdos")
    ids, atoms, rows = [], [], []
    freq_ref = None
    for k, r in df.iterrows():
        rid = str(r["mp_id"]) if "mp_id" in df.columns and isinstance(r["mp_id"], str) and r["mp_id"] else f"row{k}"
        try:
            d = parse_atoms_literal(str(r["structure"]))
            at = Atoms(numbers=np.asarray(d["numbers"], int), positions=np.asarray(d["positions"], float),
                       cell=np.asarray(d["cell"], float), pbc=np.asarray(d.get("pbc", [True] * 3), bool))
            f = np.asarray(_literal(ast.parse(str(r["phfreq"]), mode="eval").body), float) / CM1_PER_THZ
            g = np.asarray(_literal(ast.parse(str(r["phdos"]), mode="eval").body), float)
        except Exception as exc:  # noqa: BLE001
            raise DatasetError(f"{path}: row {k} ({rid}) cannot be read: {exc}") from exc
        if f.shape != g.shape or f.ndim != 1:
            raise DatasetError(f"{path}: row {k} ({rid}) has {f.size} frequencies but {g.size} DOS values")
        if freq_ref is None:
            freq_ref = f
        if grid is None and not np.allclose(f, freq_ref):
            raise DatasetError(f"{path}: row {k} ({rid}) has another frequency grid; give a common grid")
        rows.append(np.interp(grid, f, g, left=0.0, right=0.0) if grid is not None else g)
        ids.append(rid)
        atoms.append(at)
    if not rows:
        raise DatasetError(f"{path}: no rows")
    return ids, atoms, np.asarray(grid if grid is not None else freq_ref, float), np.asarray(rows)


#: the published split of the CSV's rows (package data written by tools/make_chen2021_split.py)
CHEN_SPLIT_FILE = "chen2021_phonon_split.csv"
CHEN_SPLIT_CITATION = (
    "data/idx_train.txt, idx_valid.txt, idx_test.txt of ninarina12/phononDoS_tutorial @ e1911bb5 (Andrejevic, Chen, "
    "Smidt et al., e3nn tutorial accompanying Chen et al., Adv. Sci. 8, 2004214 (2021)): 1,192 / 141 / 189 rows of "
    "data/data.csv, element-balanced (train_valid_test_split, seed 12)"
)


def chen2021_split(n_rows: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, valid, test) row indices of Chen et al.'s CSV as published with it (``CHEN_SPLIT_CITATION``).

    The paper's own split (zhantaochen/phonondos_e3nn, ``models/200801_trteva_indices.pkl``,
    1,220 / 152 / 152) indexes the 1,524 entries of a pickle published only inside a zip, in an
    order no other file gives, so it cannot be mapped onto the 1,522 rows of this CSV; the
    tutorial's split, made by the same group for exactly this file, is used instead.
    ``n_rows``: the dataset's size, checked against the split's.
    """
    from importlib.resources import files

    path = files("matscibench") / "data" / "tables" / CHEN_SPLIT_FILE
    parts: dict[str, list[int]] = {"train": [], "valid": [], "test": []}
    for line in path.read_text().splitlines()[1:]:
        row, name = line.split(",")
        parts[name].append(int(row))
    total = sum(len(v) for v in parts.values())
    if n_rows is not None and total != n_rows:
        raise DatasetError(
            f"{path}: the published split covers {total} rows, the dataset has {n_rows}; it belongs to data/data.csv of "
            f"ninarina12/phononDoS_tutorial at {CHEN_COMMIT} (git blob {CHEN_GIT_BLOB_SHA1}); use that file"
        )
    return tuple(np.asarray(sorted(parts[k]), dtype=int) for k in ("train", "valid", "test"))  # type: ignore[return-value]


class ChenPhononDosSpec(PhononSpec):
    """Chen et al. (2021)'s phonon DOS set: ~1,500 crystals, DFPT DOS (Petretto et al. 2018)."""

    reference = "dft-dfpt"
    #: Petretto et al.'s DFPT database was computed on Materials Project structures
    sources = ("Materials Project",)
    citation = (
        "Z. Chen, N. Andrejevic, T. Smidt, et al., Direct prediction of phonon density of states with Euclidean neural "
        "networks, Adv. Sci. 8, 2004214 (2021); DFPT data: G. Petretto et al., Sci. Data 5, 180065 (2018)"
    )
    license = "MIT (tutorial repository); data CC BY 4.0 (Petretto et al.)"

    def __init__(self, relpath: str = CHEN_RELPATH, git_sha1: str | None = CHEN_GIT_BLOB_SHA1, url: str | None = CHEN_URL,
                 name: str = "chen2021_phonon_dos") -> None:
        self.relpath = relpath
        self.git_sha1 = git_sha1
        self.url = url
        self.name = name
        self.description = "phonon DOS of ~1,500 crystals (DFPT, Petretto et al. 2018) in Chen et al. (2021)'s CSV (0-1000 cm⁻¹, 51 points)"

    def cache_key(self) -> str:
        return f"c1-{(self.git_sha1 or 'unchecked')[:12]}"

    def _source_status(self) -> str:
        return "local" if find_local(self.relpath) else "download"

    def _build(self, progress: ProgressFn | None):
        path = fetch_file(self.relpath, None, self.url)
        if self.git_sha1 is not None:
            got = git_blob_sha1(path)
            if got != self.git_sha1:
                raise ChecksumError(
                    f"{path}: git blob id is {got}, expected {self.git_sha1} (data/data.csv of ninarina12/phononDoS_tutorial at "
                    f"{CHEN_COMMIT}). The file is truncated or a different version; replace it with the published file."
                )
        sha256 = verify_file(path, None)
        ids, atoms, grid, rows = read_chen_csv(path)
        arr = pack_arrays(ids, ["dfpt"] * len(ids), [a.numbers for a in atoms], [np.asarray(a.cell, float) for a in atoms],
                    [a.get_scaled_positions(wrap=True) for a in atoms], grid, rows)
        step = float(np.median(np.diff(grid)))
        return arr, {"source": str(path), "sha256": sha256, "git_blob_sha1": git_blob_sha1(path), "sigma_THz": step,
                     "url": self.url, "note": "DOS max-normalised in the file; stored with unit area on the grid"}
