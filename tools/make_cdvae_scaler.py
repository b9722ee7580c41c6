"""Write CDVAE's fixed composition scaler into the package (``data/tables/cdvae_composition_scaler.csv``).

    python tools/make_cdvae_scaler.py /path/to/cdvae/common/constants.py

The input is ``cdvae/common/constants.py`` of the CDVAE repository (github.com/txie-93/cdvae, commit
f857f598d6f6cca5dc1ea0582d228f12dcc2c2ea; the file last changed in 51383a9bf6477db01fb66b341ff75b5bad33ca90):
``CompScalerMeans`` and ``CompScalerStds``, the 132 means and standard deviations by which
``scripts/eval_utils.py`` (``CompScaler = StandardScaler(means=..., stds=..., replace_nan_token=0.)``)
standardises matminer's Magpie composition fingerprints before the coverage distances. The file is
read as data (``ast.literal_eval`` of the two lists), never executed. Each row of the output pairs
the value with the Magpie feature label of that position (matminer's order, which CDVAE's
``ElementProperty.from_preset('magpie')`` produced).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from matscibench.featurizers.magpie import magpie_feature_labels

OUT = Path(__file__).resolve().parents[1] / "src" / "matscibench" / "data" / "tables" / "cdvae_composition_scaler.csv"
HEADER = (
    "# CDVAE's fixed composition-fingerprint scaler: CompScalerMeans / CompScalerStds of cdvae/common/constants.py\n"
    "# (T. Xie et al., Crystal Diffusion Variational Autoencoder, ICLR 2022; github.com/txie-93/cdvae, MIT license,\n"
    "# commit f857f598d6f6cca5dc1ea0582d228f12dcc2c2ea), used by scripts/eval_utils.py (CompScaler) for COV-R/COV-P.\n"
    "# Written by tools/make_cdvae_scaler.py; columns: position, Magpie feature label (matminer's order), mean, std.\n"
)


def read_constants(path: Path) -> tuple[list[float], list[float]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, list[float]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("CompScalerMeans", "CompScalerStds"):
                found[name] = [float(x) for x in ast.literal_eval(node.value)]
    if set(found) != {"CompScalerMeans", "CompScalerStds"}:
        raise SystemExit(f"{path}: CompScalerMeans and CompScalerStds not found (is it cdvae/common/constants.py?)")
    return found["CompScalerMeans"], found["CompScalerStds"]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    means, stds = read_constants(Path(argv[0]))
    labels = magpie_feature_labels()
    if not len(means) == len(stds) == len(labels) == 132:
        raise SystemExit(f"expected 132 values each, got {len(means)} means and {len(stds)} stds")
    lines = [HEADER.rstrip("\n"), "index,feature,mean,std"]
    lines += [f"{i},{lab},{m!r},{s!r}" for i, (lab, m, s) in enumerate(zip(labels, means, stds))]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
