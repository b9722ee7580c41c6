"""Periodic crystal graphs: structure -> atoms, bonds to periodic images, and bond angles.

One home for the graph step of the crystal graph networks (CGCNN, MEGNet, ALIGNN, the
three-body model of the crystal-property family):

* ``crystal_graph(structure, cutoff, max_neighbors, line_graph)`` builds one ``CrystalGraph``
  from a pymatgen ``Structure`` or an ASE ``Atoms``: vesin's full neighbour list within ``cutoff``
  Å (every image of every atom, self-images included), optionally trimmed to the nearest
  ``max_neighbors`` of each atom, with the bond vectors and lengths, and optionally the line
  graph (pairs of bonds that share their centre atom, with the cosine of the angle between them).
* ``GraphCache`` keeps built graphs on disk, keyed by each structure's content and the graph
  parameters, so the five folds of a task (each job a fresh process) build a dataset's graphs once.

Conventions. Edge ``e`` runs from source ``j = edge_index[0, e]`` (the neighbour) to destination
``i = edge_index[1, e]`` (the centre, which receives the message); its vector is
``edge_vec[e] = x_j + S_e · cell - x_i`` (Å) and ``edge_dist[e] = |edge_vec[e]|``. The line graph
pairs ``(a, b) = line_index[:, t]`` are ordered pairs of distinct edges with the same centre
atom; ``angle_cos[t]`` is the cosine of the angle between ``edge_vec[a]`` and ``edge_vec[b]``
(the bond angle j-i-k). ALIGNN builds its line graph with DGL's ``line_graph(shared=True)``,
which also keeps the back-tracking pair of a bond and its own reverse (angle 0, cosine 1, no
information); those pairs are left out here.

``max_neighbors`` keeps, for each atom, every neighbour no farther than its ``max_neighbors``-th
nearest one (plus 1e-4 Å): a shell of symmetry-equivalent neighbours is kept or dropped whole,
so the graph does not depend on the order in which the neighbour list lists equal distances
(CGCNN cuts at exactly 12, ALIGNN's ``nearest_neighbor_edges`` keeps the ties as here).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "GRAPH_VERSION",
    "CrystalGraph",
    "GraphCache",
    "crystal_graph",
    "crystal_graphs",
    "structure_arrays",
    "structure_key",
]

#: bump when the graph a structure gives changes (invalidates the on-disk cache)
GRAPH_VERSION = 1

#: distance tolerance (Å) of the neighbour shells kept by ``max_neighbors``
SHELL_TOL = 1e-4


@dataclass
class CrystalGraph:
    """One crystal as a graph (numpy arrays; the networks turn batches of them into tensors).

    ``z`` (n,) atomic numbers; ``edge_index`` (2, E) [source j, centre i]; ``edge_shift`` (E, 3)
    integer image shifts; ``edge_vec`` (E, 3) Å; ``edge_dist`` (E,) Å; ``line_index`` (2, T) pairs
    of edges with a common centre and ``angle_cos`` (T,) their cosines (empty when the line graph
    was not asked for); ``volume`` Å³ of the cell.
    """

    z: np.ndarray
    edge_index: np.ndarray
    edge_shift: np.ndarray
    edge_vec: np.ndarray
    edge_dist: np.ndarray
    line_index: np.ndarray = field(default_factory=lambda: np.zeros((2, 0), dtype=np.int64))
    angle_cos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    volume: float = float("nan")

    @property
    def n_atoms(self) -> int:
        return len(self.z)

    @property
    def n_edges(self) -> int:
        return int(self.edge_index.shape[1])

    @property
    def n_triplets(self) -> int:
        return int(self.line_index.shape[1])

    def degree(self) -> np.ndarray:
        """Number of neighbours of each atom (edges whose centre it is)."""
        return np.bincount(self.edge_index[1], minlength=self.n_atoms)


def structure_arrays(x: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(atomic numbers, Cartesian positions Å, cell rows Å) of a periodic pymatgen ``Structure``
    or ASE ``Atoms``; anything else is refused with what was given."""
    if hasattr(x, "lattice") and hasattr(x, "cart_coords"):  # pymatgen Structure
        try:
            z = x.atomic_numbers  # pymatgen refuses this on a disordered structure
        except AttributeError as exc:
            raise ValueError(
                f"crystal graph of {x.composition.reduced_formula}: the structure is disordered (partial "
                "occupancies); order it first (e.g. pymatgen's OrderDisorderedStructureTransformation)"
            ) from exc
        return (np.asarray(z, dtype=np.int64), np.asarray(x.cart_coords, dtype=np.float64),
                np.asarray(x.lattice.matrix, dtype=np.float64))
    if hasattr(x, "get_atomic_numbers") and hasattr(x, "cell"):  # ASE Atoms
        if not np.asarray(x.pbc).all():
            raise ValueError(
                f"crystal graph of {x.get_chemical_formula()}: the Atoms object is not periodic in all three "
                f"directions (pbc={list(x.pbc)}); crystal graphs need a periodic cell (set atoms.pbc = True)"
            )
        return (np.asarray(x.numbers, dtype=np.int64), np.asarray(x.positions, dtype=np.float64),
                np.asarray(x.cell.array, dtype=np.float64))
    raise TypeError(
        f"a crystal graph needs a pymatgen Structure or an ASE Atoms, got {type(x).__name__}; "
        "composition-only inputs have no geometry (use a composition model such as magpie_rf)"
    )


def _line_graph(centre: np.ndarray, vec: np.ndarray, dist: np.ndarray, n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """Ordered pairs (a, b), a != b, of edges with the same centre atom, and cos(angle(a, b))."""
    E = len(centre)
    if E == 0:
        return np.zeros((2, 0), dtype=np.int64), np.zeros(0, dtype=np.float32)
    order = np.argsort(centre, kind="stable")
    counts = np.bincount(centre, minlength=n_atoms)
    starts = np.cumsum(counts) - counts
    deg = counts[centre[order]]  # for each sorted edge, the size of its centre's group
    total = int(deg.sum())
    a_pos = np.repeat(np.arange(E), deg)
    first = np.repeat(np.cumsum(deg) - deg, deg)
    b_pos = np.repeat(starts[centre[order]], deg) + (np.arange(total) - first)
    keep = a_pos != b_pos
    a, b = order[a_pos[keep]], order[b_pos[keep]]
    cos = np.einsum("ij,ij->i", vec[a], vec[b]) / (dist[a] * dist[b])
    return np.stack([a, b]).astype(np.int64), np.clip(cos, -1.0, 1.0).astype(np.float32)


def crystal_graph(x: Any, cutoff: float = 8.0, max_neighbors: int | None = 12, line_graph: bool = False,
                  nl: Any = None) -> CrystalGraph:
    """The periodic graph of one crystal (see the module docstring for the conventions).

    Parameters
    ----------
    x: pymatgen ``Structure`` or ASE ``Atoms`` (periodic in three directions).
    cutoff: neighbour radius (Å).
    max_neighbors: keep each atom's nearest ``max_neighbors`` (whole shells); None keeps all.
    line_graph: also build the bond pairs and their angle cosines.
    nl: a ``vesin.NeighborList(cutoff, full_list=True)`` to reuse (built here when None).
    """
    import vesin

    z, pos, cell = structure_arrays(x)
    if nl is None:
        nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    i, j, S, D = nl.compute(points=pos, box=cell, periodic=True, quantities="ijSD")
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    S = np.asarray(S, dtype=np.int64).reshape(-1, 3)
    D = np.asarray(D, dtype=np.float64).reshape(-1, 3)
    d = np.sqrt(np.einsum("ij,ij->i", D, D))
    # by centre, then distance (stable: vesin's order among equal distances, itself deterministic;
    # the whole-shell cut below does not depend on the order of ties)
    order = np.lexsort((d, i))
    i, j, S, D, d = i[order], j[order], S[order], D[order], d[order]
    if max_neighbors is not None and len(i):
        k = int(max_neighbors)
        counts = np.bincount(i, minlength=len(z))
        starts = np.cumsum(counts) - counts
        kth = np.full(len(z), np.inf)
        has = counts >= k
        kth[has] = d[starts[has] + k - 1]
        keep = d <= kth[i] + SHELL_TOL
        i, j, S, D, d = i[keep], j[keep], S[keep], D[keep], d[keep]
    g = CrystalGraph(
        z=z,
        edge_index=np.stack([j, i]),
        edge_shift=S,
        edge_vec=D.astype(np.float32),
        edge_dist=d.astype(np.float32),
        volume=float(abs(np.linalg.det(cell))),
    )
    if line_graph:
        g.line_index, g.angle_cos = _line_graph(i, D, d, len(z))
    return g


def structure_key(x: Any) -> str:
    """Content hash of one crystal (atomic numbers, cell and fractional coordinates to 1e-8):
    the same structure gives the same key in every process."""
    z, pos, cell = structure_arrays(x)
    frac = np.linalg.solve(cell.T, pos.T).T
    h = hashlib.sha1(z.tobytes())
    h.update(np.round(cell, 8).tobytes())
    h.update(np.round(frac, 8).tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------- on-disk cache
_FIELDS_2D = ("edge_index", "line_index")


class GraphCache:
    """Graphs on disk under ``<cache_dir>/crystal_graphs/<parameters>/``, keyed by structure content.

    Each call to ``get`` that builds graphs writes them as one new pack file (``pack-<hash>.npz``,
    written atomically, so two jobs never corrupt each other; at worst both build the same graphs
    once). A later call, in this or another process, reads the packs' keys, loads the graphs it
    needs from them and builds only the rest. Five folds of one dataset therefore build its graphs
    once (the first fold's training part, then the remainder). Packs are plain ``numpy`` archives
    (no pickle); a pack that cannot be read is ignored and its graphs are built again.
    """

    def __init__(self, cutoff: float, max_neighbors: int | None, line_graph: bool, root: Path | None = None) -> None:
        self.cutoff = float(cutoff)
        self.max_neighbors = None if max_neighbors is None else int(max_neighbors)
        self.line_graph = bool(line_graph)
        if root is None:
            from matscibench.paths import cache_dir

            root = cache_dir() / "crystal_graphs"
        self.dir = Path(root) / f"v{GRAPH_VERSION}-r{self.cutoff:g}-k{self.max_neighbors}-lg{int(self.line_graph)}"
        self.hits = 0
        self.built = 0

    def _packs(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        return sorted(self.dir.glob("pack-*.npz"))

    def get(self, X: Sequence[Any], keys: Sequence[str] | None = None) -> list[CrystalGraph]:
        """Graphs of ``X`` in order: read from the packs where present, built (and stored) otherwise."""
        import vesin

        keys = list(keys) if keys is not None else [structure_key(x) for x in X]
        out: list[CrystalGraph | None] = [None] * len(X)
        where: dict[str, list[int]] = {}
        for n, k in enumerate(keys):
            where.setdefault(k, []).append(n)
        missing = set(where)
        for pack in self._packs():
            if not missing:
                break
            with contextlib.suppress(OSError, ValueError, KeyError, EOFError):
                self._read_pack(pack, where, missing, out)
        todo = [n for n, g in enumerate(out) if g is None]
        self.hits = len(X) - len(todo)
        self.built = 0
        if todo:
            nl = vesin.NeighborList(cutoff=self.cutoff, full_list=True)
            new: dict[str, CrystalGraph] = {}
            for n in todo:
                k = keys[n]
                if k not in new:
                    new[k] = crystal_graph(X[n], self.cutoff, self.max_neighbors, self.line_graph, nl)
                    self.built += 1
                out[n] = new[k]
            with contextlib.suppress(OSError):
                self._write_pack(new)
        return out  # type: ignore[return-value]

    def _read_pack(self, pack: Path, where: dict[str, list[int]], missing: set[str], out: list) -> None:
        with np.load(pack, allow_pickle=False) as f:
            pkeys = f["keys"]
            wanted = [m for m, k in enumerate(pkeys.tolist()) if k in missing]
            if not wanted:
                return
            arrays = {name: f[name] for name in f.files}
        ptr = {name[:-4]: arrays[name] for name in arrays if name.endswith("_ptr")}
        for m in wanted:
            k = str(pkeys[m])
            if k not in missing:  # a duplicate key inside the pack
                continue
            parts = {}
            for name, p in ptr.items():
                a = arrays[name]
                parts[name] = a[:, p[m]: p[m + 1]] if name in _FIELDS_2D else a[p[m]: p[m + 1]]
            g = CrystalGraph(volume=float(arrays["volume"][m]), **parts)
            for n in where[k]:
                out[n] = g
            missing.discard(k)

    def _write_pack(self, graphs: dict[str, CrystalGraph]) -> None:
        from matscibench.data.cache import atomic_path

        keys = list(graphs)
        gs = [graphs[k] for k in keys]
        arrays: dict[str, np.ndarray] = {"keys": np.asarray(keys, dtype="U40"),
                                         "volume": np.array([g.volume for g in gs], dtype=np.float64)}
        for name in ("z", "edge_index", "edge_shift", "edge_vec", "edge_dist", "line_index", "angle_cos"):
            parts = [getattr(g, name) for g in gs]
            axis = 1 if name in _FIELDS_2D else 0
            sizes = [p.shape[axis] for p in parts]
            arrays[name] = np.concatenate(parts, axis=axis)
            arrays[f"{name}_ptr"] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        digest = hashlib.sha1("".join(keys).encode()).hexdigest()[:16]
        self.dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.dir / f"pack-{digest}-{os.getpid()}.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def crystal_graphs(X: Sequence[Any], cutoff: float = 8.0, max_neighbors: int | None = 12, line_graph: bool = False,
                   cache: bool = False) -> list[CrystalGraph]:
    """Graphs of many crystals (one vesin neighbour list reused); ``cache=True`` goes through the
    on-disk ``GraphCache``."""
    if cache:
        return GraphCache(cutoff, max_neighbors, line_graph).get(X)
    import vesin

    nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    return [crystal_graph(x, cutoff, max_neighbors, line_graph, nl) for x in X]
