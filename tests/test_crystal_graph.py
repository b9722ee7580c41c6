"""Periodic crystal graphs (``featurizers.crystal_graph``) against pymatgen's neighbour list."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from matscibench.featurizers.crystal_graph import (
    GraphCache,
    crystal_graph,
    structure_key,
)

A = 5.64  # rock-salt NaCl, Å


def nacl(primitive: bool = True) -> Structure:
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(A), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    return s.get_primitive_structure() if primitive else s


def _pymatgen_edges(s: Structure, cutoff: float) -> list[tuple[int, int, tuple[int, int, int], float]]:
    out = []
    for i, nbrs in enumerate(s.get_all_neighbors(cutoff)):
        for n in nbrs:
            out.append((i, int(n.index), tuple(int(v) for v in np.round(n.image).astype(int)), float(n.nn_distance)))
    return sorted(out)


@pytest.mark.parametrize("primitive", [True, False])
def test_rock_salt_shells_match_pymatgen(primitive):
    s = nacl(primitive)
    cutoff = 4.2  # the first two shells: a/2 = 2.82 Å, a/sqrt(2) = 3.99 Å; the third is a*sqrt(3)/2 = 4.88 Å
    g = crystal_graph(s, cutoff=cutoff, max_neighbors=None)
    # every atom: 6 nearest neighbours of the other species at a/2, 12 of its own at a/sqrt(2)
    j, i = g.edge_index
    Z = np.asarray(s.atomic_numbers)
    for atom in range(len(s)):
        d = g.edge_dist[i == atom]
        first = np.isclose(d, A / 2, atol=1e-4)
        second = np.isclose(d, A / np.sqrt(2), atol=1e-4)
        assert first.sum() == 6 and second.sum() == 12 and len(d) == 18
        assert (Z[j[i == atom][first]] != Z[atom]).all()
        assert (Z[j[i == atom][second]] == Z[atom]).all()
    # the same (centre, neighbour, image, distance) set as pymatgen's get_all_neighbors
    ours = sorted((int(c), int(n), tuple(int(v) for v in sh), float(dd))
                  for c, n, sh, dd in zip(i, j, g.edge_shift, g.edge_dist))
    ref = _pymatgen_edges(s, cutoff)
    assert [o[:3] for o in ours] == [r[:3] for r in ref]
    np.testing.assert_allclose([o[3] for o in ours], [r[3] for r in ref], atol=1e-5)
    # bond vectors: x_j + S.cell - x_i
    rec = s.cart_coords[j] + g.edge_shift @ s.lattice.matrix - s.cart_coords[i]
    np.testing.assert_allclose(g.edge_vec, rec, atol=1e-5)


def test_max_neighbors_keeps_whole_shells():
    s = nacl()
    assert (crystal_graph(s, 8.0, max_neighbors=6).degree() == 6).all()
    # 12 asked: the 12th neighbour lies in the second shell, which is kept whole (6 + 12)
    assert (crystal_graph(s, 8.0, max_neighbors=12).degree() == 18).all()
    assert (crystal_graph(s, 8.0, max_neighbors=7).degree() == 18).all()


def test_line_graph_angles_of_an_octahedron():
    g = crystal_graph(nacl(), 8.0, max_neighbors=6, line_graph=True)
    # per atom 6 x 5 ordered pairs of bonds: 24 at 90 degrees, 6 at 180 degrees
    assert g.n_triplets == 2 * 30
    assert np.isclose(g.angle_cos, 0.0, atol=1e-6).sum() == 48
    assert np.isclose(g.angle_cos, -1.0, atol=1e-6).sum() == 12
    a, b = g.line_index
    assert (g.edge_index[1, a] == g.edge_index[1, b]).all() and (a != b).all()
    # cosines recomputed from the bond vectors
    v = g.edge_vec.astype(float)
    cos = np.einsum("ij,ij->i", v[a], v[b]) / np.linalg.norm(v[a], axis=1) / np.linalg.norm(v[b], axis=1)
    np.testing.assert_allclose(g.angle_cos, cos, atol=1e-6)


def test_ase_atoms_give_the_same_graph():
    from pymatgen.io.ase import AseAtomsAdaptor

    s = nacl(False)
    g1 = crystal_graph(s, 6.0, 12, line_graph=True)
    g2 = crystal_graph(AseAtomsAdaptor.get_atoms(s), 6.0, 12, line_graph=True)
    for name in ("z", "edge_index", "edge_shift", "edge_dist", "line_index", "angle_cos"):
        np.testing.assert_array_equal(getattr(g1, name), getattr(g2, name))
    assert structure_key(s) == structure_key(AseAtomsAdaptor.get_atoms(s))


def test_composition_is_refused_with_a_reason():
    with pytest.raises(TypeError, match="composition-only"):
        crystal_graph(nacl().composition)


def test_graph_cache_builds_once_and_returns_the_same_graphs(tmp_path):
    X = [nacl(), nacl(False), nacl().copy()]
    X[2].scale_lattice(X[2].volume * 1.1)
    first = GraphCache(6.0, 12, True, root=tmp_path)
    g1 = first.get(X[:2])
    assert (first.hits, first.built) == (0, 2)
    again = GraphCache(6.0, 12, True, root=tmp_path)  # a new process would do the same
    g2 = again.get(X)
    assert (again.hits, again.built) == (2, 1)
    for a, b in zip(g1, g2[:2]):
        for name in ("z", "edge_index", "edge_shift", "edge_vec", "edge_dist", "line_index", "angle_cos"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    fresh = crystal_graph(X[2], 6.0, 12, line_graph=True)
    np.testing.assert_array_equal(g2[2].edge_dist, fresh.edge_dist)
    # other parameters, other graphs
    other = GraphCache(5.0, 12, True, root=tmp_path)
    other.get(X[:1])
    assert other.built == 1
