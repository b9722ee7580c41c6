"""Structure descriptors against hand-worked crystals and pymatgen's neighbour search."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from matscibench.featurizers.sitestats import SiteStatsFeaturizer


def _row(s):
    f = SiteStatsFeaturizer()
    return dict(zip(f.feature_labels(), f.transform([s])[0]))


def test_fcc_hand_worked():
    a = 3.6
    cu = Structure(Lattice.cubic(a), ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    r = _row(cu)
    assert r["mean_cn"] == 12 and r["std_cn"] == 0
    assert r["mean_bond_length"] == pytest.approx(a / np.sqrt(2))
    assert r["volume_per_atom"] == pytest.approx(a**3 / 4)
    assert r["density"] == pytest.approx(cu.density, rel=1e-6)
    assert r["rdf_2.5"] == 12  # 12 neighbours at 2.546 Å
    assert r["mean_unlike_fraction"] == 0 and r["mean_abs_dchi"] == 0


def test_features_do_not_depend_on_the_cell():
    rng = np.random.default_rng(3)
    s = Structure(Lattice.from_parameters(3.9, 4.2, 4.6, 85, 92, 105), ["Cu", "Au", "Ni"], rng.random((3, 3)))
    f = SiteStatsFeaturizer()
    a, b = f.transform([s, s * (2, 1, 3)])
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_l12_ordering_is_seen():
    cu3au = Structure(Lattice.cubic(3.75), ["Au", "Cu", "Cu", "Cu"], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    r = _row(cu3au)
    # Au: 12 Cu neighbours (unlike 1); each Cu: 4 Au of 12 (1/3)
    assert r["max_unlike_fraction"] == pytest.approx(1.0)
    assert r["min_unlike_fraction"] == pytest.approx(1 / 3)
    assert r["mean_unlike_fraction"] == pytest.approx((1 + 3 * (1 / 3)) / 4)


def test_first_shell_matches_pymatgen_neighbours():
    rng = np.random.default_rng(0)
    s = Structure(Lattice.from_parameters(4.1, 4.3, 5.0, 88, 95, 100), ["Na", "Cl", "K", "Br"], rng.random((4, 3)))
    r = _row(s)
    cns, bonds = [], []
    for site in s:
        nbrs = s.get_neighbors(site, 6.0)
        d = np.array([n.nn_distance for n in nbrs])
        shell = d[d <= 1.2 * d.min()]
        cns.append(len(shell))
        bonds.append(shell.mean())
    assert r["mean_cn"] == pytest.approx(np.mean(cns))
    assert r["max_cn"] == max(cns)
    assert r["mean_bond_length"] == pytest.approx(np.mean(bonds))


def test_rejects_compositions():
    from pymatgen.core import Composition

    with pytest.raises(TypeError):
        SiteStatsFeaturizer().transform([Composition("NaCl")])
