"""Crystal generators: the contract, and the baselines a generative model must beat.

The contract (what the generation task calls)::

    model.fit(structures)               # list of pymatgen Structure: the training set
    model.sample(n, seed) -> list       # n pymatgen Structure (ASE Atoms accepted; None = a failure)
    model.reconstruct(structures)       # optional: encode and decode each structure

A generator declares ``input_types = ("generation",)``; property tasks then skip it as not
applicable, and the generation task skips property models (they have no ``sample``).

Baselines, all with no learned parameters, each bounding one aspect of the metrics:

- ``TrainingReplay``: training structures returned as they are. The upper bound of coverage and
  property statistics with zero novelty: a model that does not beat it on novelty has learned
  to copy.
- ``RandomPerturbation``: training structures with Gaussian noise on the atoms (``sigma`` Å) and
  the cell (strain ``lattice_sigma``). Its ``reconstruct`` returns such a noisy copy, the
  reference point for match rate and RMSE.
- ``ElementSubstitution``: a training structure with all sites of one element replaced by a
  chemically similar element (nearest Mendeleev/Pettifor number among the training elements),
  the cell rescaled by the ratio of covalent radii: the classic substitution route to new
  compounds (Hautier et al., Inorg. Chem. 50, 656 (2011), with the Pettifor scale instead of
  learned probabilities).
- ``PyxtalRandom``: random symmetric crystals from PyXtal (Fredericks et al., Comput. Phys.
  Commun. 261, 107810 (2021)) with the composition and cell size of a random training structure
  and a random space group compatible with it: what chance gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sklearn.base import BaseEstimator

__all__ = [
    "TrainingReplay",
    "RandomPerturbation",
    "ElementSubstitution",
    "PyxtalRandom",
]


class _Generator(BaseEstimator):
    """Shared parts: the training set, seeding; parameters (``get_params``, ``set_params``,
    ``repr``) are scikit-learn's, read from ``__init__``."""

    input_types = ("generation",)

    def fit(self, structures: Sequence[Any]):
        from matscibench.data.structures import as_structures

        self.structures_ = as_structures(list(structures))
        if not self.structures_:
            raise ValueError(f"{type(self).__name__}.fit got no training structures")
        return self

    def _pick(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Training indices: each structure once (random order) before any repeats."""
        m = len(self.structures_)
        reps = -(-n // m)
        return np.concatenate([rng.permutation(m) for _ in range(reps)])[:n]


class TrainingReplay(_Generator):
    """Samples training structures (without replacement until all have been used)."""

    def sample(self, n: int, seed: int = 0) -> list:
        rng = np.random.default_rng(seed)
        return [self.structures_[i].copy() for i in self._pick(int(n), rng)]


def _perturbed(s, rng: np.random.Generator, sigma: float, lattice_sigma: float):
    from pymatgen.core import Lattice, Structure

    strain = rng.normal(scale=lattice_sigma, size=(3, 3))
    strain = np.eye(3) + 0.5 * (strain + strain.T)
    lattice = Lattice(np.asarray(s.lattice.matrix) @ strain)
    cart = (np.asarray(s.frac_coords) @ lattice.matrix) + rng.normal(scale=sigma, size=(len(s), 3))
    return Structure(lattice, s.species, cart, coords_are_cartesian=True)


class RandomPerturbation(_Generator):
    """Training structures with Gaussian noise: ``sigma`` Å on every Cartesian coordinate and a
    symmetric strain with entries of standard deviation ``lattice_sigma`` on the cell."""

    def __init__(self, sigma: float = 0.1, lattice_sigma: float = 0.02) -> None:
        self.sigma = sigma
        self.lattice_sigma = lattice_sigma

    def sample(self, n: int, seed: int = 0) -> list:
        rng = np.random.default_rng(seed)
        return [_perturbed(self.structures_[i], rng, self.sigma, self.lattice_sigma) for i in self._pick(int(n), rng)]

    def reconstruct(self, structures: Sequence[Any]) -> list:
        """A noisy copy of each input (seeded by position, so the same inputs give the same output)."""
        from matscibench.data.structures import as_structure

        rng = np.random.default_rng(0)
        return [_perturbed(as_structure(s), rng, self.sigma, self.lattice_sigma) for s in structures]


def _element_scales() -> tuple[dict[str, float], dict[str, float]]:
    """Mendeleev (Pettifor) numbers and covalent radii (pm) of the Magpie table."""
    from matscibench.featurizers.magpie import MAGPIE_PROPERTIES, load_magpie_table

    t = load_magpie_table()
    mend = t.raw[:, MAGPIE_PROPERTIES.index("MendeleevNumber")]
    rad = t.raw[:, MAGPIE_PROPERTIES.index("CovalentRadius")]
    m = {s: float(v) for s, v in zip(t.symbols, mend) if np.isfinite(v)}
    r = {s: float(v) for s, v in zip(t.symbols, rad) if np.isfinite(v)}
    return m, r


class ElementSubstitution(_Generator):
    """Replace every site of one element of a training structure by a similar element.

    The new element is drawn among the ``n_nearest`` elements nearest in Mendeleev number
    (Pettifor's chemical scale) that do not occur in the structure yet; candidates come from the
    training set's elements (``elements="training"``) or every element with Magpie data
    (``"all"``). The cell is scaled by the ratio of mean covalent radii (new/old, per site).
    A structure with no candidate is returned unchanged.
    """

    def __init__(self, n_nearest: int = 3, elements: str = "training") -> None:
        self.n_nearest = n_nearest
        self.elements = elements

    def fit(self, structures: Sequence[Any]):
        super().fit(structures)
        mend, rad = _element_scales()
        if self.elements == "training":
            pool = sorted({el.symbol for s in self.structures_ for el in s.composition.elements})
        elif self.elements == "all":
            pool = sorted(mend)
        else:
            raise ValueError(f"elements must be 'training' or 'all', got {self.elements!r}")
        self.pool_ = [e for e in pool if e in mend and e in rad]
        self.mendeleev_, self.radius_ = mend, rad
        return self

    def _substitute(self, s, rng: np.random.Generator):
        from pymatgen.core import Lattice, Structure

        present = sorted({el.symbol for el in s.composition.elements})
        old = present[int(rng.integers(len(present)))]
        if old not in self.mendeleev_:
            return s.copy()
        cands = [e for e in self.pool_ if e not in present]
        if not cands:
            return s.copy()
        d = np.array([abs(self.mendeleev_[e] - self.mendeleev_[old]) for e in cands])
        order = np.argsort(d, kind="stable")[: max(1, int(self.n_nearest))]
        new = cands[int(order[int(rng.integers(len(order)))])]
        species = [new if sp.symbol == old else sp.symbol for sp in s.species]
        r_old = np.mean([self.radius_.get(sp.symbol, np.nan) for sp in s.species])
        r_new = np.mean([self.radius_.get(x, np.nan) for x in species])
        scale = r_new / r_old if np.isfinite(r_old) and np.isfinite(r_new) and r_old > 0 else 1.0
        return Structure(Lattice(np.asarray(s.lattice.matrix) * scale), species, s.frac_coords)

    def sample(self, n: int, seed: int = 0) -> list:
        rng = np.random.default_rng(seed)
        return [self._substitute(self.structures_[i], rng) for i in self._pick(int(n), rng)]


class PyxtalRandom(_Generator):
    """Random crystals (PyXtal ``from_random``) with a training structure's elements and numbers
    of atoms per cell, in a space group drawn uniformly from those compatible with them (P1 after
    ``max_attempts`` incompatible draws). ``factor`` scales PyXtal's estimate of the volume."""

    def __init__(self, max_attempts: int = 20, factor: float = 1.1) -> None:
        self.max_attempts = max_attempts
        self.factor = factor

    def fit(self, structures: Sequence[Any]):
        super().fit(structures)
        self.compositions_ = []
        for s in self.structures_:
            counts: dict[str, int] = {}
            for sp in s.species:
                counts[sp.symbol] = counts.get(sp.symbol, 0) + 1
            self.compositions_.append((list(counts), [counts[k] for k in counts]))
        return self

    def _one(self, rng: np.random.Generator, species: list[str], counts: list[int]):
        from pyxtal import pyxtal
        from pyxtal.symmetry import Group

        import warnings

        for attempt in range(int(self.max_attempts) + 1):
            sg = int(rng.integers(2, 231)) if attempt < self.max_attempts else 1
            try:
                if sg != 1 and not Group(sg).check_compatible(counts)[0]:
                    continue
                c = pyxtal()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    c.from_random(3, sg, species, counts, factor=self.factor, random_state=int(rng.integers(2**31)))
                if c.valid:
                    return c.to_pymatgen()
            except Exception:
                continue
        return None

    def sample(self, n: int, seed: int = 0) -> list:
        rng = np.random.default_rng(seed)
        return [self._one(rng, *self.compositions_[i]) for i in self._pick(int(n), rng)]
