#!/usr/bin/env python
"""Extract the 22 Magpie elemental properties used by the Magpie composition preset into one CSV.

Source: the Magpie lookup tables (Ward, Agrawal, Choudhary & Wolverton, "A general-purpose machine
learning framework for predicting properties of inorganic materials", npj Comput. Mater. 2, 16028
(2016)), as distributed with matminer under ``matminer/utils/data_files/magpie_elementdata/``.

Each ``<Property>.table`` file has one line per element, line ``Z`` holding the value for atomic
number ``Z``; unknown values are written ``Missing``. The tables do not all have the same length
(most stop at Z=112, ``SpaceGroupNumber`` goes to Z=118). A value is read exactly as matminer
reads it: the line is passed to ``float()``; a line that does not parse, or one past the end of
the file, is unknown (NaN). The CSV has one row for every Z from 1 to the longest table (118),
with NaN wherever a table has no number, so that the featuriser sees the same values (and the
same per-property means for imputation) as matminer.

Units of the columns: Number, MendeleevNumber, Column, Row, SpaceGroupNumber: dimensionless
integers; AtomicWeight: g/mol; MeltingT: K; CovalentRadius: pm; Electronegativity: Pauling
scale; Ns/Np/Nd/Nf/N Valence and Unfilled: electrons per atom; GSvolume_pa: Å^3/atom; GSbandgap:
eV; GSmagmom: Bohr magnetons per atom (the last three from OQMD T=0 K ground states).

Usage::

    python tools/make_magpie_table.py [--source DIR] [--out PATH]
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

#: The 22 properties of matminer's ``ElementProperty.from_preset("magpie")``, in its order.
PROPERTIES: tuple[str, ...] = (
    "Number",
    "MendeleevNumber",
    "AtomicWeight",
    "MeltingT",
    "Column",
    "Row",
    "CovalentRadius",
    "Electronegativity",
    "NsValence",
    "NpValence",
    "NdValence",
    "NfValence",
    "NValence",
    "NsUnfilled",
    "NpUnfilled",
    "NdUnfilled",
    "NfUnfilled",
    "NUnfilled",
    "GSvolume_pa",
    "GSbandgap",
    "GSmagmom",
    "SpaceGroupNumber",
)

HEADER_COMMENT = (
    "# Magpie elemental properties (Ward, Agrawal, Choudhary, Wolverton, npj Comput. Mater. 2, "
    "16028 (2016)); extracted by tools/make_magpie_table.py from the Magpie tables distributed "
    "with matminer (matminer/utils/data_files/magpie_elementdata); NaN = Missing"
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "src" / "matscibench" / "data" / "tables" / "magpie_elements.csv"


def default_source() -> Path:
    """The ``magpie_elementdata`` folder of the installed matminer."""
    import matminer.utils.data_files as data_files  # located only; nothing is imported from it

    return Path(data_files.__file__).resolve().parent / "magpie_elementdata"


def read_table(path: Path) -> list[float]:
    """Values of one ``.table`` file, index ``Z - 1``; NaN for lines that are not numbers."""
    # Text mode with universal newlines, as matminer opens them (the files have CRLF endings).
    with open(path, encoding="ascii") as fh:
        lines = fh.readlines()
    values: list[float] = []
    for line in lines:
        try:
            values.append(float(line))
        except ValueError:
            values.append(math.nan)
    return values


def build_rows(source: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows (as strings) of the CSV for the tables in ``source``."""
    from pymatgen.core import Element

    columns = {prop: read_table(source / f"{prop}.table") for prop in PROPERTIES}
    n_el = max(len(v) for v in columns.values())
    header = ["Z", "symbol", *PROPERTIES]
    rows: list[list[str]] = []
    for z in range(1, n_el + 1):
        row = [str(z), Element.from_Z(z).symbol]
        for prop in PROPERTIES:
            vals = columns[prop]
            x = vals[z - 1] if z <= len(vals) else math.nan
            # repr() gives the shortest string that parses back to the same double.
            row.append("NaN" if math.isnan(x) else repr(x))
        rows.append(row)
    return header, rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=None, help="magpie_elementdata folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="CSV to write")
    args = parser.parse_args(argv)
    source = args.source or default_source()
    header, rows = build_rows(source)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as fh:
        fh.write(HEADER_COMMENT + "\n")
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    n_missing = sum(cell == "NaN" for row in rows for cell in row[2:])
    print(f"wrote {args.out} ({len(rows)} elements x {len(PROPERTIES)} properties, {n_missing} NaN)")


if __name__ == "__main__":
    main()
