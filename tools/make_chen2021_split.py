"""Write the published train/valid/test split of Chen et al.'s phonon DOS set as package data.

    python tools/make_chen2021_split.py TUTORIAL_CHECKOUT [PAPER_CHECKOUT]

TUTORIAL_CHECKOUT: a checkout of ninarina12/phononDoS_tutorial at commit
e1911bb556e091a42b3df478def93bd9674fabe3 (the commit whose ``data/data.csv`` the
``chen2021_phonon_dos`` dataset reads). Its ``data/idx_train.txt``, ``data/idx_valid.txt`` and
``data/idx_test.txt`` (plain text, one row index of ``data.csv`` per line; 1,192 / 141 / 189 of the
1,522 rows, an element-balanced split with seed 12 made by ``train_valid_test_split`` in
``utils/utils_data.py``) are checked against their git blob ids and written to
``src/matscibench/data/tables/chen2021_phonon_split.csv`` (columns ``row,split``).

PAPER_CHECKOUT (optional): a checkout of zhantaochen/phonondos_e3nn (commit 9575e218). The paper's
own split, ``models/200801_trteva_indices.pkl`` (1,220 / 152 / 152), indexes the 1,524 entries of
``models/phdos_e3nn_len51max1000_fwin101ord3.pkl``, which is only published inside a zip that
does not list the entries' order in any other file, so it cannot be mapped onto the 1,522 rows of
the tutorial's CSV; this tool reads the pickle without unpickling it (``pickletools`` opcodes; only
numpy's ndarray reconstruction is accepted) and prints its sizes, for the record.

Run at development time only; the package never reads a pickle.
"""

from __future__ import annotations

import hashlib
import pickletools
import sys
from pathlib import Path

import numpy as np

TUTORIAL_COMMIT = "e1911bb556e091a42b3df478def93bd9674fabe3"
#: git blob ids of the index files at TUTORIAL_COMMIT
BLOBS = {
    "train": ("data/idx_train.txt", "d7adc9061205b024de500cacf375abb0a60d951b"),
    "valid": ("data/idx_valid.txt", "f132cd561d9d4f6ff878e19780a5c85ccd0e6eda"),
    "test": ("data/idx_test.txt", "3288b7ddb0111850ff97bcb86884697f367e9c53"),
}
OUT = Path(__file__).resolve().parents[1] / "src" / "matscibench" / "data" / "tables" / "chen2021_phonon_split.csv"
ALLOWED_GLOBALS = {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


def read_index_file(path: Path, blob: str) -> list[int]:
    data = path.read_bytes()
    got = git_blob_sha1(data)
    if got != blob:
        raise SystemExit(f"{path}: git blob id {got}, expected {blob} (file of {TUTORIAL_COMMIT})")
    return [int(line) for line in data.decode().split() if line.strip()]


def int64_arrays_in_pickle(path: Path) -> list[np.ndarray]:
    """The int64 ndarrays of a pickle of numpy arrays, read from its opcodes without unpickling."""
    arrays = []
    for op, arg, _ in pickletools.genops(path.read_bytes()):
        if op.name in ("GLOBAL", "STACK_GLOBAL") and arg not in ALLOWED_GLOBALS:
            raise SystemExit(f"{path}: refuses global {arg!r}")
        if op.name in ("SHORT_BINBYTES", "BINBYTES", "BINBYTES8") and len(arg) % 8 == 0 and len(arg) > 8:
            arrays.append(np.frombuffer(arg, dtype="<i8").copy())
    return arrays


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    root = Path(argv[0])
    split = {name: read_index_file(root / rel, blob) for name, (rel, blob) in BLOBS.items()}
    rows = sorted((i, name) for name, idx in split.items() for i in idx)
    if len({i for i, _ in rows}) != len(rows):
        raise SystemExit("the three index files overlap")
    OUT.write_text("row,split\n" + "".join(f"{i},{name}\n" for i, name in rows))
    print(f"wrote {OUT}: " + ", ".join(f"{k} {len(v)}" for k, v in split.items()) + f"; rows 0-{rows[-1][0]}")
    if len(argv) > 1:
        arrays = int64_arrays_in_pickle(Path(argv[1]) / "models" / "200801_trteva_indices.pkl")
        sizes = [len(a) for a in arrays]
        top = max(int(a.max()) for a in arrays)
        print(f"paper split (not used): sizes {sizes}, indices 0-{top} into the paper's 1,524-entry pickle")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
