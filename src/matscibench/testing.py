"""Contract checks a model must pass to run in a family's tasks (in the spirit of scikit-learn's
``check_estimator``): the tests run them on every registered model, and a third-party author runs
them on their own before submitting results::

    from matscibench.testing import check_model
    check_model(MyModel(), "properties")      # or check_model("magpie_rf")

Each check feeds the model a few small inputs made here (no dataset, no network) through the same
calls the family's task makes, and checks what comes back: shapes, finite values, classes, forces
that are the gradient of the energy, samples that are ordered periodic crystals, and that the
same seed gives the same numbers. ``check_model`` raises ``ContractError`` listing every failed
check, and returns the names of the checks that passed.

Contracts, per family (see ``docs/architecture.md``):

* properties: ``fit(X, y)``, ``predict(X) -> (n,)``; ``X`` a list of pymatgen ``Structure``
  (``Composition`` when ``input_types`` says so); ``y`` floats, or booleans for classification
  (``predict_proba(X) -> (n, 2)`` optional).
* molecules: the same with pymatgen ``Molecule`` inputs, one target at a time.
* potentials: an ASE ``Calculator`` (energy in eV, forces in eV/Å); optional ``fit(frames)``
  reading ``atoms.info["energy"]`` and ``atoms.arrays["forces"]``; ``supported_elements`` and
  ``periodic_ok`` say what it handles.
* phonons: ``fit(structures, Y)`` with ``Y`` a DOS per structure on a fixed grid, ``predict`` the
  same shape (``frequencies=`` given to a ``fit`` that takes it); or an ASE calculator.
* generation: ``fit(structures)``, ``sample(n, seed) -> list[Structure]``; optional
  ``reconstruct(structures)``.
* xrd: ``fit(patterns, labels)`` (``two_theta=`` to a ``fit`` that takes it),
  ``predict_proba(patterns) -> (n, len(classes_))`` for classes, ``predict -> (n, 6)`` for lattice
  parameters.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from matscibench.families import FAMILY_NAMES
from matscibench.families.registry import build_model, get_model_entry
from matscibench.models.base import fit_accepts, set_seed

__all__ = ["ContractError", "check_model", "FAMILY_CHECKS"]


class ContractError(AssertionError):
    """A model broke its family's contract; the message lists every failed check."""


# ----------------------------------------------------------------------------- inputs
def _crystals(n: int, seed: int = 0) -> list[Any]:
    """Small ordered binary crystals of Cu, Ni, Al, Ag (fcc/bcc-like cells of 2-4 atoms)."""
    from pymatgen.core import Lattice, Structure

    rng = np.random.default_rng(seed)
    els = ["Cu", "Ni", "Al", "Ag"]
    out = []
    for i in range(n):
        a, b = els[i % 4], els[(i // 4 + 1 + i) % 4]
        if i % 2:
            s = Structure(Lattice.cubic(3.6 + 0.3 * rng.random()), [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]])
        else:
            s = Structure(Lattice.cubic(3.7 + 0.3 * rng.random()), [a, a, a, b],
                          [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
        out.append(s)
    return out


def _molecules(n: int, seed: int = 0) -> list[Any]:
    from pymatgen.core import Molecule

    rng = np.random.default_rng(seed)
    base = [
        (["O", "H", "H"], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]),
        (["C", "H", "H", "H", "H"], [[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63], [-0.63, 0.63, -0.63],
                                      [0.63, -0.63, -0.63]]),
        (["N", "H", "H", "H"], [[0, 0, 0], [0.94, 0, -0.38], [-0.47, 0.81, -0.38], [-0.47, -0.81, -0.38]]),
    ]
    out = []
    for i in range(n):
        species, xyz = base[i % 3]
        out.append(Molecule(species, np.asarray(xyz, float) + 0.03 * rng.standard_normal((len(species), 3))))
    return out


def _target(X: list[Any], seed: int = 0) -> np.ndarray:
    """A smooth function of the inputs (mean atomic number, size) plus a little noise."""
    rng = np.random.default_rng(seed)
    z = np.array([np.mean([sp.Z for sp in getattr(x, "species", None) or x.elements]) for x in X], float)
    return 0.05 * z + 0.01 * rng.standard_normal(len(X))


def _same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        return bool(np.array_equal(a.astype(float), b.astype(float), equal_nan=True))
    return bool(np.array_equal(a, b))


# ----------------------------------------------------------------------------- harness
class _Checks:
    def __init__(self, model: Any) -> None:
        self.model = model
        self.passed: list[str] = []
        self.failed: list[str] = []

    def __call__(self, name: str, ok: bool, why: str = "") -> bool:
        (self.passed if ok else self.failed).append(name if ok else f"{name}: {why}")
        return ok

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        """Call ``fn``; an exception is a failed check (with its message), not a crash."""
        try:
            out = fn()
        except Exception as exc:  # noqa: BLE001 - any failure of the model is a finding
            self.failed.append(f"{name}: raised {type(exc).__name__}: {str(exc)[:300]}")
            return _FAILED
        self.passed.append(name)
        return out

    def fresh(self) -> Any:
        """An unfitted copy of the model with the same hyper-parameters."""
        if hasattr(self.model, "get_params"):
            from sklearn.base import clone

            return clone(self.model)
        return copy.deepcopy(self.model)


_FAILED = object()


def _check_estimator_api(c: _Checks) -> None:
    c.run("repr", lambda: repr(c.model))
    if hasattr(c.model, "get_params"):
        from sklearn.base import clone

        params = c.run("get_params", lambda: c.model.get_params(deep=False))
        cloned = c.run("sklearn clone", lambda: clone(c.model))
        if params is not _FAILED and cloned is not _FAILED:
            back = cloned.get_params(deep=False)
            c("clone keeps hyper-parameters", set(back) == set(params) and all(
                _same(back[k], params[k]) if isinstance(params[k], (int, float, np.ndarray)) else back[k] == params[k]
                for k in params), f"{params} -> {back}")


def _fit_predict(c: _Checks, X: list[Any], y: np.ndarray, seed: int, what: str) -> np.ndarray | None:
    """Fit a fresh copy twice with the same seed; check the predictions and that they repeat."""
    preds = []
    for attempt in range(2):
        m = c.fresh() if attempt else c.model
        set_seed(m, seed)
        if c.run(f"{what}: fit" + (" (again)" if attempt else ""), lambda m=m: m.fit(X, y)) is _FAILED:
            return None
        p = c.run(f"{what}: predict" + (" (again)" if attempt else ""), lambda m=m: np.asarray(m.predict(X)))
        if p is _FAILED:
            return None
        preds.append(p)
    p = preds[0]
    if not c(f"{what}: one prediction per input", p.shape[:1] == (len(X),), f"shape {p.shape} for {len(X)} inputs"):
        return None
    c(f"{what}: same seed, same predictions", _same(preds[0], preds[1]), "two fits with the same seed differ")
    return p


# ----------------------------------------------------------------------------- families
def _check_property(c: _Checks, seed: int, molecules: bool = False) -> None:
    types = tuple(getattr(c.model, "input_types", None) or ("structure", "composition", "molecule"))
    if molecules:
        X = _molecules(12, seed)
    elif "structure" in types:
        X = _crystals(16, seed)
    else:
        X = [s.composition for s in _crystals(16, seed)]
    y = _target(X, seed)
    p = _fit_predict(c, X, y, seed, "regression")
    if p is not None:
        c("regression: finite floats", p.ndim == 1 and np.isfinite(p.astype(float)).all(), f"shape {p.shape}, {p[:4]}")
    if molecules:
        return
    yb = y > np.median(y)
    pb = _fit_predict(c, X, yb, seed, "classification")
    if pb is not None:
        c("classification: labels are booleans or 0/1", set(np.unique(pb).tolist()) <= {0, 1, True, False},
          f"labels {np.unique(pb)[:5]}")
    if hasattr(c.model, "predict_proba") and pb is not None:
        P = c.run("classification: predict_proba", lambda: np.asarray(c.model.predict_proba(X), float))
        if P is not _FAILED:
            c("classification: probabilities (n, 2) in [0, 1]",
              P.ndim == 2 and P.shape == (len(X), 2) and np.all((P >= 0) & (P <= 1)), f"shape {P.shape}")


def _check_molecule(c: _Checks, seed: int) -> None:
    _check_property(c, seed, molecules=True)


def _potential_system(model: Any) -> Any:
    from ase.build import bulk, molecule

    supported = getattr(model, "supported_elements", None)
    periodic_ok = getattr(model, "periodic_ok", True) is not False
    if supported is not None and {"C", "H"} <= set(supported):  # a molecular method (xTB, ...)
        atoms = molecule("CH4")
        atoms.rattle(0.05, seed=1)
        return atoms
    for el in ("Cu", "Ni", "Al", "Ag", "Pd", "Pt", "Au", "Si", "C"):
        if periodic_ok and (supported is None or el in supported):
            crystal = "diamond" if el in ("Si", "C") else "fcc"
            atoms = bulk(el, crystal, a={"Si": 5.43, "C": 3.57}.get(el), cubic=True)
            atoms.rattle(0.05, seed=1)
            return atoms
    if supported is None or {"C", "H"} <= set(supported):
        atoms = molecule("CH4")
        atoms.rattle(0.05, seed=1)
        return atoms
    raise ValueError(f"no test system for supported_elements={sorted(supported)}")


def _labelled_frames(atoms: Any, n: int, seed: int) -> list[Any]:
    """Rattled copies labelled with ASE's EMT (metals) or a harmonic toy (others)."""
    from ase.calculators.emt import EMT

    frames = []
    for i in range(n):
        a = atoms.copy()
        a.rattle(0.05, seed=seed + i)
        a.calc = EMT()
        a.info["energy"] = float(a.get_potential_energy())
        a.arrays["forces"] = np.asarray(a.get_forces(), float)
        if a.pbc.all():
            a.info["stress"] = np.asarray(a.get_stress(), float)
        a.calc = None
        frames.append(a)
    return frames


def _check_potential(c: _Checks, seed: int) -> None:
    model = c.model
    c("is an ASE calculator", hasattr(model, "get_potential_energy") or hasattr(model, "get_property"),
      "no get_potential_energy / get_property")
    atoms = c.run("a test system it supports", lambda: _potential_system(model))
    if atoms is _FAILED:
        return
    if callable(getattr(model, "fit", None)):
        frames = _labelled_frames(atoms, 6, seed)
        set_seed(model, seed)
        if c.run("fit(frames)", lambda: model.fit(frames)) is _FAILED:
            return

    def energy_forces(a: Any) -> tuple[float, np.ndarray]:
        a = a.copy()
        a.calc = model
        return float(a.get_potential_energy()), np.asarray(a.get_forces(), float)

    ef = c.run("energy and forces", lambda: energy_forces(atoms))
    if ef is _FAILED:
        return
    e, f = ef
    c("energy is finite", math.isfinite(e), f"{e}")
    if not c("forces (n_atoms, 3), finite", f.shape == (len(atoms), 3) and np.isfinite(f).all(), f"shape {f.shape}"):
        return
    # forces are minus the gradient of the energy (central differences on the largest component)
    i, k = np.unravel_index(int(np.argmax(np.abs(f))), f.shape)
    h = 5e-3
    plus, minus = atoms.copy(), atoms.copy()
    plus.positions[i, k] += h
    minus.positions[i, k] -= h
    fd = c.run("energy at displaced positions", lambda: (energy_forces(minus)[0] - energy_forces(plus)[0]) / (2 * h))
    if fd is not _FAILED:
        tol = 0.05 + 0.05 * abs(f[i, k])
        c("forces = -dE/dx (finite differences)", abs(fd - f[i, k]) <= tol,
          f"atom {i}, axis {k}: force {f[i, k]:.4f} eV/Å, -dE/dx {fd:.4f} eV/Å")
    again = c.run("same positions, same numbers", lambda: energy_forces(atoms))
    if again is not _FAILED:
        # a tolerance far below any error a benchmark reports (meV/Å): torch kernels that sum in a
        # varying order (SevenNet: 1e-7 eV/Å) and SCF codes that restart from the previous
        # wavefunction (tblite's xTB: 2e-5 eV/Å) do not repeat to the bit
        c("repeat call gives the same energy and forces (within 1e-6 relative, 1e-4 eV/Å)",
          abs(again[0] - e) <= 1e-6 * max(1.0, abs(e)) and np.allclose(again[1], f, rtol=0, atol=1e-4),
          f"energy {e} vs {again[0]}, largest force difference {np.max(np.abs(again[1] - f)):.2e} eV/Å")


def _check_phonon(c: _Checks, seed: int) -> None:
    if hasattr(c.model, "get_potential_energy") or hasattr(c.model, "get_property"):
        _check_potential(c, seed)
        return
    X = _crystals(12, seed)
    grid = np.linspace(0.0, 10.0, 24)
    rng = np.random.default_rng(seed)
    centre = np.array([3.0 + s.lattice.a / 2 for s in X])
    Y = np.exp(-((grid[None, :] - centre[:, None]) ** 2) / 2.0) + 0.01 * rng.random((len(X), grid.size))
    Y /= np.trapezoid(Y, grid, axis=1)[:, None]

    def fit(m: Any) -> Any:
        return m.fit(X, Y, frequencies=grid) if fit_accepts(m, "frequencies") else m.fit(X, Y)

    preds = []
    for attempt in range(2):
        m = c.fresh() if attempt else c.model
        set_seed(m, seed)
        if c.run("fit(structures, DOS)" + (" (again)" if attempt else ""), lambda m=m: fit(m)) is _FAILED:
            return
        p = c.run("predict" + (" (again)" if attempt else ""), lambda m=m: np.asarray(m.predict(X), float))
        if p is _FAILED:
            return
        preds.append(p)
    c("one DOS per structure on the grid, finite", preds[0].shape == Y.shape and np.isfinite(preds[0]).all(),
      f"shape {preds[0].shape}, expected {Y.shape}")
    c("same seed, same predictions", _same(preds[0], preds[1]), "two fits with the same seed differ")


def _check_generation(c: _Checks, seed: int) -> None:
    from pymatgen.core import Structure

    train = _crystals(12, seed)
    set_seed(c.model, seed)
    if c.run("fit(structures)", lambda: c.model.fit(train)) is _FAILED:
        return
    a = c.run("sample(4, seed)", lambda: list(c.model.sample(4, seed=seed)))
    b = c.run("sample(4, seed) again", lambda: list(c.model.sample(4, seed=seed)))
    if a is _FAILED or b is _FAILED:
        return
    if not c("sample returns n items", len(a) == 4, f"{len(a)} items"):
        return
    ok = [s for s in a if s is not None]
    c("samples are ordered periodic pymatgen Structures",
      all(isinstance(s, Structure) and s.is_ordered for s in ok), f"{[type(s).__name__ for s in a]}")
    c("same seed, same samples", len(a) == len(b) and all(
        (s is None and t is None) or (s is not None and t is not None and _same(s.lattice.matrix, t.lattice.matrix)
                                      and _same(s.frac_coords, t.frac_coords) and s.species == t.species)
        for s, t in zip(a, b)), "two calls of sample(4, seed) differ")
    if callable(getattr(c.model, "reconstruct", None)):
        r = c.run("reconstruct(structures)", lambda: list(c.model.reconstruct(train[:3])))
        if r is not _FAILED:
            c("reconstruct returns one item per input", len(r) == 3, f"{len(r)} items for 3")


def _check_xrd(c: _Checks, seed: int) -> None:
    rng = np.random.default_rng(seed)
    grid = np.linspace(10.0, 80.0, 140)
    n = 24
    labels = np.array(["cubic", "tetragonal", "hexagonal"])[np.arange(n) % 3]
    peaks = {"cubic": (30.0, 45.0), "tetragonal": (35.0, 55.0), "hexagonal": (40.0, 65.0)}
    X = np.stack([sum(np.exp(-((grid - p - rng.normal(0, 0.5)) ** 2) / 0.5) for p in peaks[lab]) for lab in labels])
    X = X / X.max(axis=1, keepdims=True) + 0.01 * rng.random(X.shape)

    def fit(m: Any, y: Any) -> Any:
        return m.fit(X, y, two_theta=grid) if fit_accepts(m, "two_theta") else m.fit(X, y)

    probs = []
    for attempt in range(2):
        m = c.fresh() if attempt else c.model
        set_seed(m, seed)
        if c.run("classification: fit(patterns, labels)" + (" (again)" if attempt else ""), lambda m=m: fit(m, labels)) is _FAILED:
            return
        P = c.run("classification: predict_proba" + (" (again)" if attempt else ""), lambda m=m: np.asarray(m.predict_proba(X), float))
        if P is _FAILED:
            return
        probs.append((P, list(np.asarray(getattr(m, "classes_", [])).tolist())))
    P, classes = probs[0]
    c("classes_ names the columns of predict_proba", sorted(map(str, classes)) == sorted(set(labels)), f"classes_ {classes}")
    c("predict_proba (n, n_classes), rows sum to 1",
      P.shape == (n, len(classes)) and np.all(P >= -1e-9) and np.allclose(P.sum(axis=1), 1.0, atol=1e-5), f"shape {P.shape}")
    c("classification: same seed, same probabilities", _same(probs[0][0], probs[1][0]), "two fits with the same seed differ")
    lat = np.column_stack([np.full(n, 4.0) + rng.random(n), np.full(n, 4.5), np.full(n, 5.0),
                           np.full(n, 90.0), np.full(n, 90.0), np.where(labels == "hexagonal", 120.0, 90.0)])
    m = c.fresh()
    set_seed(m, seed)
    if c.run("lattice: fit(patterns, (n, 6))", lambda: fit(m, lat)) is _FAILED:
        return
    L = c.run("lattice: predict", lambda: np.asarray(m.predict(X), float))
    if L is not _FAILED:
        c("lattice: predict (n, 6), finite", L.shape == (n, 6) and np.isfinite(L).all(), f"shape {L.shape}")


FAMILY_CHECKS: dict[str, Callable[[_Checks, int], None]] = {
    "properties": _check_property,
    "molecules": _check_molecule,
    "potentials": _check_potential,
    "phonons": _check_phonon,
    "generation": _check_generation,
    "xrd": _check_xrd,
}


def check_model(model: Any, family: str | None = None, *, seed: int = 0) -> list[str]:
    """Run the contract checks of ``family`` on ``model`` (an instance, or a registered name
    whose entry gives the family). Returns the checks passed; raises ``ContractError`` naming
    every check that failed."""
    if isinstance(model, str):
        entry = get_model_entry(model)
        family = family or entry.family
        model = build_model(model)
    if family not in FAMILY_CHECKS:
        raise ValueError(f"family must be one of {', '.join(FAMILY_NAMES)}; got {family!r}")
    c = _Checks(model)
    _check_estimator_api(c)
    FAMILY_CHECKS[family](c, seed)
    if c.failed:
        raise ContractError(
            f"{type(model).__name__} breaks the {family} contract in {len(c.failed)} check(s):\n  - "
            + "\n  - ".join(c.failed)
        )
    return c.passed
