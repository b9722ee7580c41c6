"""Tests for the vectorised Magpie featuriser: exact agreement with matminer's Magpie preset."""

from __future__ import annotations

import bz2
import inspect
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Composition, Lattice, Molecule, Structure

from matscibench.featurizers.magpie import (
    MAGPIE_PROPERTIES,
    MAGPIE_STATS,
    MagpieFeaturizer,
    _numpy_order_sum,
    load_magpie_table,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
EXPT_GAP = Path("matbench_artifacts") / "matbench_expt_gap.json.bz2"

# Hand-picked compositions, each there for a reason.
HAND_PICKED: list[Composition] = [
    Composition("Fe"),  # single element
    Composition("He"),  # single element with Missing MeltingT / Electronegativity
    Composition("Og"),  # Z = 118: beyond most tables, all values unknown
    Composition("Fe2O3"),
    Composition("O3Fe2"),  # same composition, other element order
    Composition({"Fe3+": 2, "O2-": 3}),  # oxidation states
    Composition({"Fe2+": 1, "Fe3+": 2, "O2-": 4}),  # two species of one element (merged)
    Composition("Al0.5Cu0.25Ni0.25"),  # fractional amounts
    Composition("NaCl"),  # mode tie between two elements
    Composition("Fe1O1.000001"),  # near-tie, within np.isclose
    Composition("Fe1O1.001"),  # not a tie
    Composition("Fr2O3"),  # Missing value (Fr MeltingT, SpaceGroupNumber) on the minority element
    Composition("Fr3O2"),  # ... and on the majority element
    Composition("CfO2"),  # Missing CovalentRadius, SpaceGroupNumber present
    Composition("HeNe"),  # both elements Missing in some properties, tied
    Composition("K2Na2"),  # all s-block: many features with equal values (avg_dev exactly 0?)
    Composition("LiBeBNaMgAlSiKCaTi"),  # 10 elements: numpy's 8-way pairwise summation path
    Composition("Li0.1Be0.2B0.3C0.4N0.5O0.6F0.7Na0.8Mg0.9Al1.1Si1.2P1.3S1.4Cl1.5K1.6Ca1.7Sc1.8"),
    Composition({"Fe": 2}),  # integer amount
    Composition("Fe1e-9O"),  # amount below pymatgen's tolerance
    Composition("H2O"),
    Composition("CsPbI3"),
    Composition("U3Si2"),
]


def _data_root() -> Path:
    env = os.environ.get("MATSCIBENCH_DATA")
    if env:
        for part in env.split(os.pathsep):
            if part.strip() and (Path(part.strip()) / EXPT_GAP).is_file():
                return Path(part.strip())
        return Path(env.split(os.pathsep)[0].strip())
    return REPO_ROOT.parent / "shared" / "data"


def _matminer_rows(comps: list[Composition], impute_nan: bool | None = None) -> np.ndarray:
    """matminer's Magpie preset on ``comps``, single process (impute_nan=None: its default)."""
    pytest.importorskip("matminer")
    from matminer.featurizers.composition import ElementProperty

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if impute_nan is None:
            ep = ElementProperty.from_preset("magpie")
        else:
            ep = ElementProperty.from_preset("magpie", impute_nan=impute_nan)
        ep.set_n_jobs(1)
        return np.asarray(ep.featurize_many(comps, pbar=False), dtype=np.float64)


def test_table_loads_with_comment_skipped() -> None:
    table = load_magpie_table()
    assert table.raw.shape == (118, len(MAGPIE_PROPERTIES))
    assert table.symbols[0] == "H" and table.symbols[-1] == "Og"
    fe = table.index["Fe"]
    assert table.raw[fe, MAGPIE_PROPERTIES.index("Number")] == 26.0
    assert np.isnan(table.raw[table.index["He"], MAGPIE_PROPERTIES.index("MeltingT")])
    assert not np.isnan(table.imputed).any()
    assert load_magpie_table() is table  # cached


def test_labels_equal_matminer() -> None:
    pytest.importorskip("matminer")
    from matminer.featurizers.composition import ElementProperty

    ep = ElementProperty.from_preset("magpie")
    labels = MagpieFeaturizer().feature_labels()
    assert labels == ep.feature_labels()
    assert len(labels) == 132
    assert list(MagpieFeaturizer().get_feature_names_out()) == labels


def test_default_matches_matminer_default() -> None:
    pytest.importorskip("matminer")
    from matminer.featurizers.composition import ElementProperty

    default = inspect.signature(ElementProperty.from_preset).parameters["impute_nan"].default
    assert MagpieFeaturizer().impute_nan == default


@pytest.mark.parametrize("impute_nan", [None, True, False])
def test_hand_picked_equal_matminer(impute_nan: bool | None) -> None:
    ref = _matminer_rows(HAND_PICKED, impute_nan)
    feat = MagpieFeaturizer() if impute_nan is None else MagpieFeaturizer(impute_nan=impute_nan)
    got = feat.transform(HAND_PICKED)
    assert got.shape == (len(HAND_PICKED), 132) and got.dtype == np.float64
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=0, equal_nan=True)
    # Stronger than asked: the same doubles, NaN in the same places.
    assert np.array_equal(got, ref, equal_nan=True)
    if impute_nan is False:
        assert np.isnan(ref).any()  # the Missing-value cases are exercised


@pytest.mark.realdata
def test_matbench_compositions_equal_matminer() -> None:
    path = _data_root() / EXPT_GAP
    if not path.is_file():
        pytest.skip(f"matbench artifacts file not found at {path} (set MATSCIBENCH_DATA)")
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        column = json.load(fh)["composition"]
    formulas = [column[k] for k in sorted(column, key=int)]
    idx = np.random.default_rng(0).choice(len(formulas), size=min(300, len(formulas)), replace=False)
    picked = [formulas[i] for i in sorted(idx)]
    comps = [Composition(f) for f in picked]
    for impute_nan in (True, False):
        ref = _matminer_rows(comps, impute_nan)
        feat = MagpieFeaturizer(impute_nan=impute_nan)
        np.testing.assert_allclose(feat.transform(comps), ref, rtol=1e-10, atol=0, equal_nan=True)
        # Formula strings go through the same path as Compositions.
        np.testing.assert_allclose(feat.transform(picked), ref, rtol=1e-10, atol=0, equal_nan=True)


def test_nacl_by_hand() -> None:
    row = MagpieFeaturizer().transform(["NaCl"])[0]
    labels = MagpieFeaturizer().feature_labels()
    got = {s: row[labels.index(f"MagpieData {s} Number")] for s in MAGPIE_STATS}
    # Z = 11 and 17, one atom each: mean 14, |11-14| = |17-14| = 3, tie -> smaller value.
    assert got == {"minimum": 11, "maximum": 17, "range": 6, "mean": 14, "avg_dev": 3, "mode": 11}


def test_weighted_mean_and_mode_by_hand() -> None:
    feat = MagpieFeaturizer()
    labels = feat.feature_labels()
    row = feat.transform(["Fe2O3"])[0]
    z = {s: row[labels.index(f"MagpieData {s} Number")] for s in MAGPIE_STATS}
    assert z["mean"] == pytest.approx((2 * 26 + 3 * 8) / 5, rel=1e-14)
    assert z["avg_dev"] == pytest.approx((2 * abs(26 - 15.2) + 3 * abs(8 - 15.2)) / 5, rel=1e-14)
    assert z["mode"] == 8  # O is the most abundant
    # Near-tie within np.isclose(rtol=1e-5) counts as a tie: smaller value (O, Z=8) either way;
    # Fe1O0.999 is no tie, so Fe (Z=26) wins.
    near, far = feat.transform(["Fe1O0.9999999", "Fe1O0.999"])
    mode = labels.index("MagpieData mode Number")
    assert near[mode] == 8 and far[mode] == 26


def test_missing_values() -> None:
    labels = MagpieFeaturizer().feature_labels()
    col = {s: labels.index(f"MagpieData {s} MeltingT") for s in MAGPIE_STATS}
    minority, majority = MagpieFeaturizer(impute_nan=False).transform(["Fr2O3", "Fr3O2"])
    # Fr has no MeltingT: every statistic NaN except the mode when Fr is not the majority.
    for s in ("minimum", "maximum", "range", "mean", "avg_dev"):
        assert np.isnan(minority[col[s]]) and np.isnan(majority[col[s]])
    assert minority[col["mode"]] == pytest.approx(54.8)  # O's melting point, in K
    assert np.isnan(majority[col["mode"]])
    imputed = MagpieFeaturizer(impute_nan=True).transform(["Fr2O3", "Fr3O2", "Og"])
    assert np.isfinite(imputed).all()


def test_structure_and_other_inputs_give_same_row() -> None:
    structure = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    supercell = structure * (2, 1, 1)
    molecule = Molecule(["O", "H", "H"], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    feat = MagpieFeaturizer()
    rows = feat.transform([structure, structure.composition, "NaCl", supercell, molecule, "OH2"])
    np.testing.assert_array_equal(rows[0], rows[1])
    np.testing.assert_array_equal(rows[0], rows[2])
    np.testing.assert_allclose(rows[3], rows[0], rtol=1e-12)  # Na2Cl2: same fractions
    np.testing.assert_array_equal(rows[4], rows[5])

    pytest.importorskip("ase")
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure)
    np.testing.assert_array_equal(feat.transform([atoms])[0], rows[0])


def test_repeated_items_and_order() -> None:
    comp = Composition("Fe2O3")
    items = [comp, "NaCl", comp, "NaCl", Composition("Fe2O3"), "Fe2O3"]
    rows = MagpieFeaturizer().transform(items)
    ref = MagpieFeaturizer().transform([comp, "NaCl"])
    for i, j in enumerate([0, 1, 0, 1, 0, 0]):
        np.testing.assert_array_equal(rows[i], ref[j])


def test_unknown_element_error() -> None:
    with pytest.raises(ValueError, match=r"item 2 .*element 'X' is not in the Magpie"):
        MagpieFeaturizer().transform(["NaCl", "Fe2O3", "X2O"])
    with pytest.raises(ValueError, match=r"item 1 .*cannot read a composition"):
        MagpieFeaturizer().transform(["NaCl", "Fe2O3)("])
    with pytest.raises(ValueError, match=r"item 0 .*empty composition"):
        MagpieFeaturizer().transform([Composition()])


def test_sklearn_api() -> None:
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    feat = MagpieFeaturizer(impute_nan=False)
    assert feat.fit(["NaCl"]) is feat
    assert clone(feat).get_params() == {"impute_nan": False}
    assert MagpieFeaturizer().transform([]).shape == (0, 132)
    pipe = make_pipeline(MagpieFeaturizer(), StandardScaler())
    out = pipe.fit_transform(["NaCl", "Fe2O3", "CsPbI3"])
    assert out.shape == (3, 132)
    with pytest.raises(TypeError):
        MagpieFeaturizer().transform("NaCl")
    with pytest.raises(TypeError):
        MagpieFeaturizer().transform(Composition("NaCl"))
    col = np.array([["NaCl"], ["Fe2O3"]], dtype=object)
    np.testing.assert_array_equal(
        MagpieFeaturizer().transform(col), MagpieFeaturizer().transform(["NaCl", "Fe2O3"])
    )


def test_summation_order_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    for n in list(range(1, 40)) + [127, 128, 129, 200, 300]:
        mat = rng.standard_normal((50, n)) * 10.0 ** rng.uniform(-4, 4, (50, n))
        ref = np.array([np.add.reduce(np.ascontiguousarray(r)) for r in mat])
        got = _numpy_order_sum([mat[:, j] for j in range(n)])
        assert np.array_equal(got, ref), n
