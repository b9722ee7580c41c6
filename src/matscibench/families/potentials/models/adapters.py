"""Interatomic potentials as models: reference calculators, two trainable baselines, adapters.

Every model here is an ASE ``Calculator`` (``energy``, ``forces`` and, for periodic cells,
``stress``; eV, eV/Å, eV/Å³ in ASE's sign convention and Voigt order xx yy zz yz xz xy). The
trainable ones add ``fit(list[Atoms])`` reading ``atoms.info["energy"]`` (eV, total),
``atoms.arrays["forces"]`` (eV/Å) and, when present on periodic frames, ``atoms.info["stress"]``.

- ``EMTReference`` and ``XTBReference``: the calculators that made the labels (ASE's EMT,
  GFN2-xTB through tblite), as sanity rows with zero error and a known cost.
- ``LinearACEPotential`` (``linear_acelike``): a body-ordered linear model written here, the
  descriptor+ridge baseline of potentials. Per atom i of element e,
  ``E_i = c_e + Σ_{s,n} w2_{e,s,n} P_{i,s,n} + Σ_{(s,n)≤(s',n'),l} w3_{e,...} B_{i,(s,n),(s',n'),l}``
  with the 2-body sums ``P_{i,s,n} = Σ_{j∈s} g_n(r_ij)`` and the 3-body invariants
  ``B = Σ_{j∈s,k∈s'} h_n(r_ij) h_n'(r_ik) cos^l θ_jik``, evaluated in O(neighbours) through
  Cartesian moments ``A_{i,s,n,α} = Σ_{j∈s} h_n(r_ij) û_ij^α`` (|α| = l, multinomial weights):
  the Cartesian form of a power spectrum / the ACE ν=2 basis (Drautz, PRB 99, 014104 (2019);
  Shapeev's moment tensors, MMS 14, 1153 (2016)). Radial functions are Gaussians times the C²
  cutoff ``(1 - (r/r_c)²)³``. Forces, and stress from the pair virial, are analytic; the weights
  come from one ridge solve on energies, forces and stresses together. dscribe's SOAP was
  measured first: its derivatives are numerical on periodic cells (dscribe 2.1.2: "analytical
  derivatives currently not available for periodic systems") and cost 231 ms for a 32-atom cell
  (n_max 4, l_max 3), against ~1 ms for this basis -- far from the 20 ms an MD step may take.
- ``SchNetPotential`` (``schnet_potential``): SchNet (Schütt et al., J. Chem. Phys. 148, 241722 (2018))
  from PyTorch Geometric's interaction blocks; energy = Σ atoms + per-element reference energies
  fitted by least squares; forces = -∂E/∂R and stress = (1/V) ∂E/∂ε by autograd; periodic
  graphs from vesin, distances recomputed in torch from positions + shifts·cell.
- Adapters for pretrained universal potentials, imported lazily: ``CHGNetModel``,
  ``SevenNetModel``, ``MACEModel``, ``MatterSimModel`` and the generic ``ASECalculatorModel``.
  A missing package raises ``ImportError`` with the pip command that installs it without
  touching the installed torch; a missing weights file raises ``FileNotFoundError`` naming it.

Models declare ``supported_elements`` (a set of symbols, or None for any) and ``periodic_ok``
so the potentials task can skip pairs that cannot run.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.data import atomic_numbers, chemical_symbols

from matscibench.models.base import deterministic_torch, require_packages
from matscibench.models.base import ModelEntry

__all__ = [
    "EMTReference",
    "XTBReference",
    "LinearACEPotential",
    "SchNetPotential",
    "ASECalculatorModel",
    "CHGNetModel",
    "SevenNetModel",
    "MACEModel",
    "MatterSimModel",
    "neighbour_pairs",
    "schnet_graph",
    "MODEL_ENTRIES",
]

_VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def _torch_pin() -> str:
    """``torch==<installed version>`` for pip commands that must not replace the installed torch."""
    try:
        from importlib.metadata import version

        v = version("torch")
    except Exception:  # noqa: BLE001 - torch absent: nothing to pin
        return ""
    return f" torch=={v.split('+')[0]}"


def _missing(package: str, pip_name: str, what: str) -> ImportError:
    pin = _torch_pin()
    return ImportError(
        f"{what} needs the Python package '{package}', which is not installed. Install it with: "
        f"pip install {pip_name}{pin}" + (" (the torch pin keeps pip from replacing the installed torch "
                                          "with another build)" if pin else "")
    )


def _voigt(m: np.ndarray) -> np.ndarray:
    return np.array([m[a, b] for a, b in _VOIGT], dtype=float)


def _check_params(obj: Any, names: Sequence[str], params: dict[str, Any]) -> None:
    for k in params:
        if k not in names:
            raise ValueError(f"invalid parameter {k!r} for {type(obj).__name__}; valid: {', '.join(names)}")


# ============================================================================================
# Delegating calculators: references and adapters
# ============================================================================================


class _Delegating(Calculator):
    """An ASE calculator that hands each configuration to an inner calculator.

    The inner calculator's own caching (``check_state``) decides whether it recomputes; results
    are copied so that later calls cannot alter them. Stress is only defined for cells periodic
    in all three directions.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]
    supported_elements: set[str] | None = None
    periodic_ok = True

    def _inner(self, atoms: Atoms) -> Calculator:  # pragma: no cover - abstract
        raise NotImplementedError

    def _prepare(self, atoms: Atoms) -> Atoms:
        return atoms

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        at = self.atoms
        wanted = ["energy", "forces"]
        if "stress" in properties:
            if not at.pbc.all():
                raise PropertyNotImplementedError("stress is defined for cells periodic in all three directions only")
            wanted.append("stress")
        work = self._prepare(at)
        calc = self._inner(work)
        res: dict[str, Any] = {}
        for p in wanted:
            res[p] = np.array(calc.get_property(p, work), dtype=float, copy=True)
        res["energy"] = float(res["energy"])
        res["free_energy"] = res["energy"]
        if "stress" in res and res["stress"].shape == (3, 3):
            res["stress"] = _voigt(res["stress"])
        self.results = res

    def fit(self, frames: Sequence[Atoms] | None = None, on_epoch: Any = None) -> _Delegating:
        """Nothing to learn: a fixed calculator."""
        return self

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {}

    def set_params(self, **params: Any) -> _Delegating:
        """Rebuild with new parameters (the inner calculator depends on them)."""
        current = self.get_params()
        _check_params(self, list(current), params)
        self.__init__(**{**current, **params})  # type: ignore[misc]
        return self


class EMTReference(_Delegating):
    """ASE's EMT (Jacobsen, Stoltze & Nørskov 1996) as a model: the labels of the EMT datasets.

    Periodic cells go through ``matscibench.data.emt._FastEMT`` (same physics, vesin neighbour
    list); molecules and clusters through ``ase.calculators.emt.EMT``.
    """

    reference_name = "emt"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._periodic_calc: Calculator | None = None
        self._open_calc: Calculator | None = None

    @property
    def supported_elements(self) -> set[str]:  # type: ignore[override]
        from ase.calculators.emt import parameters

        return set(parameters)

    def _inner(self, atoms: Atoms) -> Calculator:
        if atoms.pbc.all():
            if self._periodic_calc is None:
                from matscibench.data.emt import _FastEMT

                self._periodic_calc = _FastEMT()
            return self._periodic_calc
        if self._open_calc is None:
            from ase.calculators.emt import EMT

            self._open_calc = EMT()
        return self._open_calc

    def __repr__(self) -> str:
        return "EMTReference()"


#: GFN2-xTB is parameterised for H to Rn (Bannwarth, Ehlert & Grimme, JCTC 15, 1652 (2019))
XTB_ELEMENTS = frozenset(chemical_symbols[1:87])


class XTBReference(_Delegating):
    """GFN2-xTB through tblite's ASE calculator (molecules and periodic cells)."""

    reference_name = "gfn2-xtb"
    supported_elements = set(XTB_ELEMENTS)
    periodic_ok = True

    def __init__(self, method: str = "GFN2-xTB", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.method = method
        try:
            from tblite.ase import TBLite
        except ImportError as exc:
            raise _missing("tblite", "tblite", "XTBReference") from exc
        self._calc = TBLite(method=method, verbosity=0)

    def _inner(self, atoms: Atoms) -> Calculator:
        return self._calc

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"method": self.method}

    def __repr__(self) -> str:
        return f"XTBReference(method={self.method!r})"


class ASECalculatorModel(_Delegating):
    """Any ASE calculator from a factory: ``ASECalculatorModel("pkg.mod:Callable", kwargs={...})``.

    ``supported_elements`` (symbols) and ``periodic_ok`` declare what the calculator handles.
    """

    def __init__(
        self,
        factory: str,
        kwargs: dict[str, Any] | None = None,
        supported_elements: Sequence[str] | None = None,
        periodic_ok: bool = True,
        **calc_kwargs: Any,
    ) -> None:
        super().__init__(**calc_kwargs)
        self.factory = factory
        self.kwargs = dict(kwargs or {})
        self.supported_elements = set(supported_elements) if supported_elements is not None else None
        self.periodic_ok = bool(periodic_ok)
        mod, _, attr = str(factory).partition(":")
        if not mod or not attr:
            raise ValueError(f"factory must look like 'package.module:Callable', got {factory!r}")
        import importlib

        try:
            obj: Any = importlib.import_module(mod)
        except ImportError as exc:
            top = mod.split(".")[0]
            raise ImportError(
                f"ASECalculatorModel cannot import {mod!r} for factory {factory!r} ({exc}). Install the package "
                f"that provides it, e.g.: pip install {top}{_torch_pin()} (pin torch so pip keeps the installed build)"
            ) from exc
        for part in attr.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise ImportError(f"{mod!r} has no attribute {attr!r} (factory {factory!r})") from None
        self._calc = obj(**self.kwargs)
        if not hasattr(self._calc, "get_property"):
            raise TypeError(f"{factory!r} returned {type(self._calc).__name__}, not an ASE calculator")

    def _inner(self, atoms: Atoms) -> Calculator:
        return self._calc

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"factory": self.factory, "kwargs": self.kwargs, "supported_elements": self.supported_elements,
                "periodic_ok": self.periodic_ok}

    def __repr__(self) -> str:
        return f"ASECalculatorModel(factory={self.factory!r})"


def _boxed(atoms: Atoms, vacuum: float) -> Atoms:
    """A molecule in a periodic box with ``vacuum`` Å between images (for periodic-only models)."""
    out = atoms.copy()
    out.calc = None
    span = np.ptp(out.positions, axis=0) if len(out) else np.zeros(3)
    out.set_cell(np.diag(span + vacuum))
    out.center()
    out.pbc = True
    return out


class CHGNetModel(_Delegating):
    """CHGNet (Deng et al., Nat. Mach. Intell. 5, 1031 (2023)) through ``CHGNetCalculator``.

    The chgnet wheel ships its pretrained weights (0.3.0 by default); ``model_version`` picks
    another shipped version. Molecules are put in a box with ``molecule_vacuum`` Å of vacuum
    (CHGNet needs a lattice; its 6 Å graph cutoff then sees no image).
    """

    def __init__(self, model_version: str = "0.3.0", device: str = "cpu", molecule_vacuum: float = 20.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_version = model_version
        self.device = device
        self.molecule_vacuum = molecule_vacuum
        try:
            from chgnet.model import CHGNet
            from chgnet.model.dynamics import CHGNetCalculator
        except ImportError as exc:
            raise _missing("chgnet", "chgnet", "CHGNetModel") from exc
        with contextlib.redirect_stdout(io.StringIO()):  # chgnet prints its device and size
            model = CHGNet.load(model_name=model_version, use_device=device, verbose=False)
            self._calc = CHGNetCalculator(model=model, use_device=device)
        self.supported_elements = set(chemical_symbols[1:95])

    def _prepare(self, atoms: Atoms) -> Atoms:
        return atoms if atoms.pbc.all() else _boxed(atoms, self.molecule_vacuum)

    def _inner(self, atoms: Atoms) -> Calculator:
        return self._calc

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"model_version": self.model_version, "device": self.device, "molecule_vacuum": self.molecule_vacuum}

    def __repr__(self) -> str:
        return f"CHGNetModel(model_version={self.model_version!r})"


class SevenNetModel(_Delegating):
    """SevenNet (Park et al., JCTC 20, 4857 (2024)) through ``SevenNetCalculator``.

    ``model`` names a checkpoint shipped with the sevenn wheel (``"7net-0"``) or a path.
    """

    def __init__(self, model: str = "7net-0", device: str = "cpu", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.device = device
        try:
            from sevenn.calculator import SevenNetCalculator
        except ImportError as exc:
            raise _missing("sevenn", "sevenn", "SevenNetModel") from exc
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the "no tensor-product accelerator" notice
            self._calc = SevenNetCalculator(model, device=device)
        self.supported_elements = {chemical_symbols[int(z)] for z in self._calc.type_map}

    def _inner(self, atoms: Atoms) -> Calculator:
        return self._calc

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"model": self.model, "device": self.device}

    def __repr__(self) -> str:
        return f"SevenNetModel(model={self.model!r})"


def _weights_path(path: str | os.PathLike | None, default_name: str, family: str) -> Path:
    if path is not None:
        return Path(path).expanduser()
    from matscibench.paths import cache_dir

    return cache_dir() / "models" / family / default_name


class MACEModel(_Delegating):
    """A MACE model file (e.g. MACE-MP-0, Batatia et al., arXiv:2401.00096) via ``MACECalculator``.

    ``model_path`` is the ``.model`` file; default ``<cache>/models/mace/{MACE_MP0_MEDIUM}``
    (``<cache>`` is ``$MATSCIBENCH_CACHE`` or ``~/.cache/matscibench``). Nothing is downloaded.
    """

    MACE_MP0_MEDIUM = "2023-12-03-mace-128-L1_epoch-199.model"
    MACE_MP0_URL = "https://github.com/ACEsuit/mace-mp/releases/download/mace_mp_0/" + MACE_MP0_MEDIUM

    def __init__(self, model_path: str | None = None, device: str = "cpu", default_dtype: str = "float64", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_path = model_path
        self.device = device
        self.default_dtype = default_dtype
        path = _weights_path(model_path, self.MACE_MP0_MEDIUM, "mace")
        if not path.is_file():
            raise FileNotFoundError(
                f"MACEModel: no model file at {path}. Place a MACE model there -- for MACE-MP-0 medium the file "
                f"{self.MACE_MP0_MEDIUM} from {self.MACE_MP0_URL} -- or pass model_path='/path/to/file.model'."
            )
        try:
            from mace.calculators import MACECalculator
        except ImportError as exc:
            raise _missing("mace", "mace-torch", "MACEModel") from exc
        self._calc = MACECalculator(model_paths=str(path), device=device, default_dtype=default_dtype)

    def _inner(self, atoms: Atoms) -> Calculator:
        return self._calc

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"model_path": self.model_path, "device": self.device, "default_dtype": self.default_dtype}


class MatterSimModel(_Delegating):
    """MatterSim (Yang et al., arXiv:2405.04967) from a checkpoint file via ``MatterSimCalculator``.

    ``load_path`` defaults to ``<cache>/models/mattersim/mattersim-v1.0.0-1M.pth``; nothing is
    downloaded.
    """

    DEFAULT_FILE = "mattersim-v1.0.0-1M.pth"

    def __init__(self, load_path: str | None = None, device: str = "cpu", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.load_path = load_path
        self.device = device
        path = _weights_path(load_path, self.DEFAULT_FILE, "mattersim")
        if not path.is_file():
            raise FileNotFoundError(
                f"MatterSimModel: no checkpoint at {path}. Place the MatterSim checkpoint {self.DEFAULT_FILE} "
                "(from the microsoft/mattersim release) there, or pass load_path='/path/to/checkpoint.pth'."
            )
        try:
            from mattersim.forcefield import MatterSimCalculator
        except ImportError as exc:
            raise _missing("mattersim", "mattersim", "MatterSimModel") from exc
        self._calc = MatterSimCalculator(load_path=str(path), device=device)

    def _inner(self, atoms: Atoms) -> Calculator:
        return self._calc

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"load_path": self.load_path, "device": self.device}


# ============================================================================================
# Neighbour lists and labels
# ============================================================================================


def neighbour_pairs(atoms: Atoms, cutoff: float, nl: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full neighbour list (i, j, S) within ``cutoff`` Å: r_ij = x_j + S·cell - x_i (vesin).

    Molecules (``pbc`` all False) need no cell; mixed boundary conditions are passed through.
    """
    import vesin

    if nl is None:
        nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    pos = np.ascontiguousarray(atoms.positions, dtype=np.float64)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if pbc.any():
        box = np.ascontiguousarray(atoms.cell.array, dtype=np.float64)
        periodic: Any = True if pbc.all() else pbc.tolist()
    else:
        box = np.zeros((3, 3))
        periodic = False
    i, j, S = nl.compute(points=pos, box=box, periodic=periodic, quantities="ijS")
    return np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64), np.asarray(S, dtype=np.int64)


def _labels(fr: Atoms) -> tuple[float, np.ndarray, np.ndarray | None]:
    """(energy eV, forces eV/Å, stress Voigt eV/Å³ or None) of a training frame."""
    if "energy" not in fr.info:
        raise ValueError(
            f"training frame {fr.get_chemical_formula()} has no atoms.info['energy'] (eV); potentials are fitted "
            "on frames labelled with info['energy'] and arrays['forces']"
        )
    if "forces" not in fr.arrays:
        raise ValueError(f"training frame {fr.get_chemical_formula()} has no atoms.arrays['forces'] (eV/Å)")
    e = float(fr.info["energy"])
    f = np.asarray(fr.arrays["forces"], dtype=float).reshape(len(fr), 3)
    s = fr.info.get("stress")
    if s is not None and fr.pbc.all():
        s = np.asarray(s, dtype=float)
        s = _voigt(s) if s.shape == (3, 3) else s.reshape(6)
        if not np.isfinite(s).all():
            s = None
    else:
        s = None
    return e, f, s


def _element_index(numbers: np.ndarray, elements: Sequence[str], model: str) -> np.ndarray:
    lut = np.full(119, -1, dtype=np.int64)
    for k, el in enumerate(elements):
        lut[atomic_numbers[el]] = k
    idx = lut[numbers]
    if (idx < 0).any():
        unknown = sorted({chemical_symbols[z] for z in numbers[idx < 0]})
        raise ValueError(
            f"{model} was fitted on {', '.join(elements)} and has no parameters for {', '.join(unknown)}; "
            "fit it on frames that contain these elements"
        )
    return idx


# ============================================================================================
# Linear body-ordered potential (2-body + 3-body moments), analytic forces and stress
# ============================================================================================


@lru_cache(maxsize=8)
def _monomials(l_max: int) -> dict[str, np.ndarray]:
    """Multi-indices α (|α| = l ≤ l_max) of û^α, their multinomial weights and derivative tables."""
    alphas = [(a, b, l - a - b) for l in range(l_max + 1) for a in range(l, -1, -1) for b in range(l - a, -1, -1)]
    where = {al: k for k, al in enumerate(alphas)}
    A = np.array(alphas, dtype=np.int64)
    order = A.sum(axis=1)
    weight = np.array([math.factorial(int(l)) / np.prod([math.factorial(int(x)) for x in al]) for al, l in zip(alphas, order)])
    # ∂û^α/∂û_m = α_m û^(α - e_m): index of α - e_m (0 when α_m = 0: then multiplied by α_m = 0)
    lower = np.zeros((len(alphas), 3), dtype=np.int64)
    for k, al in enumerate(alphas):
        for m in range(3):
            if al[m] > 0:
                low = list(al)
                low[m] -= 1
                lower[k, m] = where[tuple(low)]
    return {"alpha": A, "order": order, "weight": weight, "lower": lower}


class LinearACEPotential(Calculator):
    """Linear body-ordered potential (2-body + 3-body, ACE ν≤2 in Cartesian moments) fitted by ridge.

    Parameters
    ----------
    cutoff: radial cutoff (Å).
    n_radial_2: radial functions per neighbour element in the 2-body sums.
    n_radial_3: radial functions per chemical channel in the moments of the 3-body invariants.
    l_max: highest angular order of the 3-body invariants (cos^l θ, l = 0..l_max).
    r_min: centre of the first Gaussian (Å); centres are evenly spaced from r_min towards the cutoff.
    species_channels: chemical channels of the 3-body moments. None: one channel per element up
        to 3 elements, else 3 channels (1, covalent radius, atomic number, standardised over the
        fitted elements; the 3-body feature count grows with the square of the channels, the
        2-body sums always keep one channel per element). An integer k: one channel per element
        when k ≥ the number of elements, else the first k of 1, x, y, x², xy, y², ...
    regularization: ridge strength relative to each column's norm (columns are scaled to unit
        norm before the solve).
    energy_weight, force_weight, stress_weight: weights of the residuals in the least-squares
        fit: energy per atom (eV/atom), force components (eV/Å) and stress times volume per atom
        (eV/atom) -- all on the same eV scale.
    elements: element symbols to fit (default: those in the training frames).
    random_state: accepted for the harness; the fit is deterministic.

    Learned: ``elements_``, ``channels_`` (element -> channel weights), ``coef_`` (one row of
    weights per centre element), ``n_features_``.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]
    periodic_ok = True
    _PARAMS = ("cutoff", "n_radial_2", "n_radial_3", "l_max", "r_min", "species_channels", "regularization",
               "energy_weight", "force_weight", "stress_weight", "elements", "random_state")
    #: pairs per chunk in prediction (bounds memory on large systems)
    CHUNK = 16384

    def __init__(
        self,
        cutoff: float = 5.0,
        n_radial_2: int = 8,
        n_radial_3: int = 5,
        l_max: int = 3,
        r_min: float = 0.8,
        species_channels: int | None = None,
        regularization: float = 1e-7,
        energy_weight: float = 10.0,
        force_weight: float = 1.0,
        stress_weight: float = 1.0,
        elements: Sequence[str] | None = None,
        random_state: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cutoff = cutoff
        self.n_radial_2 = n_radial_2
        self.n_radial_3 = n_radial_3
        self.l_max = l_max
        self.r_min = r_min
        self.species_channels = species_channels
        self.regularization = regularization
        self.energy_weight = energy_weight
        self.force_weight = force_weight
        self.stress_weight = stress_weight
        self.elements = elements
        self.random_state = random_state
        self._nl = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_nl"] = None  # vesin's neighbour list is rebuilt on demand
        return state

    # scikit-learn parameter protocol --------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **params: Any) -> LinearACEPotential:
        _check_params(self, self._PARAMS, params)
        for k, v in params.items():
            setattr(self, k, v)
        self._nl = None
        self.reset()
        return self

    def __repr__(self) -> str:
        return (f"LinearACEPotential(cutoff={self.cutoff}, n_radial_2={self.n_radial_2}, n_radial_3={self.n_radial_3}, "
                f"l_max={self.l_max})")

    @property
    def supported_elements(self) -> set[str] | None:
        if hasattr(self, "elements_"):
            return set(self.elements_)
        return set(self.elements) if self.elements is not None else None

    # basis -----------------------------------------------------------------------------------
    def _radial(self, d: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Gaussians times (1 - (d/rc)²)³ and their derivatives: (pairs, n) each."""
        rc = float(self.cutoff)
        r0 = float(self.r_min)
        step = (rc - r0) / n
        mu = r0 + step * np.arange(n)
        x = (d[:, None] - mu[None, :]) / step
        gauss = np.exp(-0.5 * x * x)
        t = np.clip(1.0 - (d / rc) ** 2, 0.0, None)
        fc = t**3
        dfc = -6.0 * t * t * d / rc**2
        g = gauss * fc[:, None]
        dg = gauss * (dfc[:, None] - fc[:, None] * x / step)
        return g, dg

    def _channel_matrix(self, elements: Sequence[str]) -> np.ndarray:
        """(elements, channels) weights of each element in the 3-body moments."""
        from ase.data import covalent_radii

        S_ = len(elements)
        C = self.species_channels if self.species_channels is not None else (S_ if S_ <= 3 else 3)
        C = max(1, int(C))
        if C >= S_:
            return np.eye(S_)
        zs = np.array([atomic_numbers[e] for e in elements], dtype=float)

        def std(v: np.ndarray) -> np.ndarray:
            v = v - v.mean()
            top = np.abs(v).max()
            return v / top if top > 0 else v

        x, y = std(covalent_radii[zs.astype(int)]), std(zs)
        cols = [np.ones(S_)]
        deg = 1
        while len(cols) < C:
            for a in range(deg, -1, -1):
                cols.append(x**a * y ** (deg - a))
            deg += 1
        return np.stack(cols[:C], axis=1)

    def _sizes(self) -> dict[str, int]:
        S_, C = self.channels_.shape
        P = C * int(self.n_radial_3)
        n_pairs = P * (P + 1) // 2
        n2 = S_ * int(self.n_radial_2)
        n3 = n_pairs * (int(self.l_max) + 1)
        return {"S": S_, "C": C, "P": P, "n_pairs": n_pairs, "n2": n2, "n3": n3, "F": 1 + n2 + n3}

    def _geometry(self, atoms: Atoms) -> dict[str, Any]:
        """Pairs of one configuration: indices, vectors r_ij (Å) and distances."""
        import vesin

        if self._nl is None:
            self._nl = vesin.NeighborList(cutoff=float(self.cutoff), full_list=True)
        i, j, S = neighbour_pairs(atoms, self.cutoff, self._nl)
        pos = atoms.positions
        r = pos[j] - pos[i]
        if len(S) and atoms.pbc.any():
            r = r + S @ atoms.cell.array
        d = np.sqrt(np.einsum("pm,pm->p", r, r))
        return {"i": i, "j": j, "r": r, "d": d}

    def _pair_terms(self, r: np.ndarray, d: np.ndarray) -> dict[str, np.ndarray]:
        """Per pair: unit vector, monomials û^α (p, K) and both radial bases with derivatives."""
        mono = _monomials(int(self.l_max))
        u = r / d[:, None]
        L = int(self.l_max)
        pw = [np.ones((len(d), L + 1)) for _ in range(3)]
        for m in range(3):
            for l in range(1, L + 1):
                pw[m][:, l] = pw[m][:, l - 1] * u[:, m]
        a = mono["alpha"]
        U = pw[0][:, a[:, 0]] * pw[1][:, a[:, 1]] * pw[2][:, a[:, 2]]
        g, dg = self._radial(d, int(self.n_radial_2))
        h, dh = self._radial(d, int(self.n_radial_3))
        return {"u": u, "U": U, "g": g, "dg": dg, "h": h, "dh": dh}

    @staticmethod
    def _terms(rows_of_c: Any, Wc: np.ndarray, sign: float = 1.0) -> list[tuple[np.ndarray, np.ndarray]]:
        """Scatter terms: for each channel c, (rows_of_c(c), sign * weight of each pair in c)."""
        return [(rows_of_c(c), sign * Wc[:, c]) for c in range(Wc.shape[1])]

    # prediction ------------------------------------------------------------------------------
    def _evaluate(self, atoms: Atoms, want_stress: bool) -> dict[str, Any]:
        if not hasattr(self, "coef_"):
            raise RuntimeError("LinearACEPotential is not fitted: call fit(frames) before using it as a calculator")
        mono = _monomials(int(self.l_max))
        sz = self._sizes()
        S_, C, P = sz["S"], sz["C"], sz["P"]
        N3, N2, L = int(self.n_radial_3), int(self.n_radial_2), int(self.l_max)
        K = len(mono["order"])
        order, weight, low = mono["order"], mono["weight"], mono["lower"]
        alpha = mono["alpha"].astype(float)
        n = len(atoms)
        z = _element_index(atoms.numbers, self.elements_, "LinearACEPotential")
        geo = self._geometry(atoms)
        i, j, r, d = geo["i"], geo["j"], geo["r"], geo["d"]
        sj = z[j]
        w0 = self.coef_[:, 0]
        w2 = self.coef_[:, 1 : 1 + sz["n2"]].reshape(S_, S_, N2)
        M = self._sym_weights_  # (E, L+1, P, P)
        # forward: 2-body sums and moments A (atom, a = (c, n), α), chunk by chunk
        A = np.zeros((n * C, N3 * K))
        e_atoms = w0[z].copy()
        starts = list(range(0, len(d), self.CHUNK)) or [0]
        cache = []
        for lo in starts:
            sl = slice(lo, lo + self.CHUNK)
            t = self._pair_terms(r[sl], d[sl])
            ii = i[sl]
            e_atoms += np.bincount(ii, np.einsum("pn,pn->p", t["g"], w2[z[ii], sj[sl]]), minlength=n)
            phi = (t["h"][:, :, None] * t["U"][:, None, :]).reshape(-1, N3 * K)
            A += _scatter(self._terms(lambda c, ii=ii: ii * C + c, self.channels_[sj[sl]]), n * C, phi)
            if len(starts) == 1:
                cache.append(t)
        A3 = A.reshape(n, P, K)
        # E3_i = Σ_l Σ_ab M_ab Σ_{α∈l} c_α A_aα A_bα;  dE/dA_aα = 2 c_α Σ_b M_ab A_bα
        dEdA = np.empty_like(A3)
        for l in range(L + 1):
            kl = np.nonzero(order == l)[0]
            dEdA[:, :, kl] = 2.0 * np.matmul(M[z, l], A3[:, :, kl]) * weight[kl]
        e_atoms += 0.5 * np.einsum("iak,iak->i", A3, dEdA)
        # backward: gradient of E with respect to each pair vector r_p = x_j - x_i (+ shift)
        dEdA4 = dEdA.reshape(n, C, N3, K)
        forces = np.zeros((n, 3))
        virial = np.zeros((3, 3))
        for c, lo in enumerate(starts):
            sl = slice(lo, lo + self.CHUNK)
            t = cache[c] if cache else self._pair_terms(r[sl], d[sl])
            ii, dd, u, U = i[sl], d[sl], t["u"], t["U"]
            Wc = self.channels_[sj[sl]]
            G = dEdA4[ii, 0] * Wc[:, :1, None] if C == 1 else np.einsum("pc,pcnk->pnk", Wc, dEdA4[ii])  # dE/dφ (p, N3, K)
            Gh = np.einsum("pnk,pn->pk", G, t["h"])
            Gdh = np.einsum("pnk,pn->pk", G, t["dh"])
            radial = np.einsum("pk,pk->p", Gdh - order[None, :] * Gh / dd[:, None], U)
            radial += np.einsum("pn,pn->p", t["dg"], w2[z[ii], sj[sl]])
            grad = u * radial[:, None]
            for m in range(3):
                grad[:, m] += np.einsum("pk,pk->p", Gh * alpha[None, :, m], U[:, low[:, m]]) / dd
            for m in range(3):
                forces[:, m] += np.bincount(ii, grad[:, m], minlength=n) - np.bincount(j[sl], grad[:, m], minlength=n)
            if want_stress:
                virial += grad.T @ r[sl]
        out = {"energy": float(e_atoms.sum()), "energies": e_atoms, "forces": forces}
        if want_stress:
            out["stress"] = _voigt(0.5 * (virial + virial.T) / atoms.get_volume())
        return out

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        want_stress = "stress" in properties
        if want_stress and not self.atoms.pbc.all():
            raise PropertyNotImplementedError("stress is defined for cells periodic in all three directions only")
        res = self._evaluate(self.atoms, want_stress)
        res["free_energy"] = res["energy"]
        self.results = res

    # fitting ---------------------------------------------------------------------------------
    def _design(self, atoms: Atoms, z: np.ndarray, stress: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Rows of the least-squares problem for one frame: energy (E·F,), forces (3n, E·F), stress (6, E·F).

        Columns are blocks of F features per centre element: [1, 2-body sums, 3-body invariants].
        The 3-body rows use ∂B_ab/∂x = Σ_α c_α (∂A_aα/∂x A_bα + A_aα ∂A_bα/∂x): the moment
        derivatives ∂A_i/∂x_k are gathered per (atom, centre) with one sparse product and
        contracted with the moments A_i in one dense matrix product per angular order l -- no
        per-pair feature derivatives are formed.
        """
        mono = _monomials(int(self.l_max))
        sz = self._sizes()
        S_, C, P, F, n2 = sz["S"], sz["C"], sz["P"], sz["F"], sz["n2"]
        N3, N2, L = int(self.n_radial_3), int(self.n_radial_2), int(self.l_max)
        K = len(mono["order"])
        n = len(atoms)
        geo = self._geometry(atoms)
        i, j, r, d = geo["i"], geo["j"], geo["r"], geo["d"]
        p = len(d)
        sj = z[j]
        zi = z[i]
        Wc = self.channels_[sj]
        t = self._pair_terms(r, d)
        order, weight, low = mono["order"], mono["weight"], mono["lower"]
        alpha = mono["alpha"].astype(float)
        offs = np.searchsorted(order, np.arange(L + 2))  # α of order l: offs[l]:offs[l+1]
        u, U, h, dh = t["u"], t["U"], t["h"], t["dh"]
        tri = np.triu_indices(P)
        cols3 = [slice(1 + n2 + l, None, L + 1) for l in range(L + 1)]
        # per-centre moments A (atom, a = (c, n), α) and 2-body sums
        A3 = _scatter(self._terms(lambda c: i * C + c, Wc), n * C, (h[:, :, None] * U[:, None, :]).reshape(p, N3 * K))
        A3 = A3.reshape(n, P, K)
        D = np.zeros((n, F))
        D[:, 0] = 1.0
        D[:, 1 : 1 + n2] = _scatter(i * S_ + sj, n * S_, t["g"]).reshape(n, n2)
        for l in range(L + 1):
            kl = slice(offs[l], offs[l + 1])
            Bl = np.einsum("iak,ibk,k->iab", A3[:, :, kl], A3[:, :, kl], weight[kl])
            D[:, cols3[l]] = Bl[:, tri[0], tri[1]]
        x_energy = _scatter(z, S_, D)
        # c_α A_i arranged per element block: Ahat[(α, i), (e, b)] = δ(Z_i = e) c_α A[i, b, α]
        Ahat = np.zeros((K, n, S_, P))
        Ahat[:, np.arange(n), z, :] = (A3 * weight[None, None, :]).transpose(2, 0, 1)
        # ∂φ_{nα}/∂r_m = (h'_n - l h_n/d) û^α û_m + (h_n/d) α_m û^(α-e_m): (p, N3, K, 3)
        base = (dh[:, :, None] - order[None, None, :] * h[:, :, None] / d[:, None, None]) * U[:, None, :]
        dphi = base[:, :, :, None] * u[:, None, None, :]
        hd = (h / d[:, None])[:, :, None]
        for m in range(3):
            dphi[:, :, :, m] += hd * (alpha[None, :, m] * U[:, low[:, m]])[:, None, :]
        dphi_flat = dphi.reshape(p, N3 * K * 3)
        # dE/dx rows: dX[k, m, e, f] = Σ_{i of element e} ∂D_i[f]/∂x_km  (force rows are minus this)
        dX = np.zeros((n, 3, S_, F))
        # 2-body: ∂P_{i,s,n}/∂x_k = Σ_{p∈i, s_p=s} g'_n û (δ_kj - δ_ki)
        vals2 = (t["dg"][:, :, None] * u[:, None, :]).reshape(p, N2 * 3)
        two = _scatter([((j * S_ + zi) * S_ + sj, np.ones(p)), ((i * S_ + zi) * S_ + sj, -np.ones(p))], n * S_ * S_, vals2)
        dX[:, :, :, 1 : 1 + n2] = two.reshape(n, S_, S_, N2, 3).transpose(0, 4, 1, 2, 3).reshape(n, 3, S_, n2)
        # 3-body, centres in chunks to bound the (atom, centre) table of moment derivatives
        per_centre = max(1, int(6_000_000 // max(1, n * P * K * 3)))
        for c0 in range(0, n, per_centre):
            c1 = min(n, c0 + per_centre)
            nc = c1 - c0
            sel = np.nonzero((i >= c0) & (i < c1))[0]
            ic, js, is_, ws = i[sel] - c0, j[sel], i[sel], Wc[sel]
            # dA[k, c, ic, n, α, m] = ∂A_{ic, (c,n), α}/∂x_km
            terms = self._terms(lambda c: (js * C + c) * nc + ic, ws) + self._terms(lambda c: (is_ * C + c) * nc + ic, ws, -1.0)
            dA = _scatter(terms, n * C * nc, dphi_flat[sel])
            # rows (α, ic), columns (k, m, c, n): each order l is a contiguous block of rows
            dA = dA.reshape(n, C, nc, N3, K, 3).transpose(4, 2, 0, 5, 1, 3).reshape(K * nc, n * 3 * P)
            AhT = Ahat[:, c0:c1].reshape(K * nc, S_ * P).T
            for l in range(L + 1):
                cs = slice(offs[l] * nc, offs[l + 1] * nc)
                T = (AhT[:, cs] @ dA[cs]).reshape(S_, P, n, 3, P)  # [e, b, k, m, a]
                T = T + T.transpose(0, 4, 2, 3, 1)
                dX[:, :, :, cols3[l]] += T[:, tri[1], :, :, tri[0]].transpose(2, 3, 1, 0)
        X_f = -dX.reshape(n * 3, S_ * F)
        X_s = None
        if stress:
            V = atoms.get_volume()
            vir = np.zeros((3, 3, S_, F))
            # 2-body: Σ_p g'_n û_m r_m'
            vals = (t["dg"][:, :, None, None] * u[:, None, :, None] * r[:, None, None, :]).reshape(p, N2 * 9)
            two_s = _scatter(zi * S_ + sj, S_ * S_, vals)
            vir[:, :, :, 1 : 1 + n2] = two_s.reshape(S_, S_, N2, 3, 3).transpose(3, 4, 0, 1, 2).reshape(3, 3, S_, n2)
            # 3-body: per-centre virial moments W[(c, n, m, m'), (α, i)] contracted with c_α A_i
            W = np.stack([_scatter(self._terms(lambda c: c * n + i, Wc * r[:, mm, None]), C * n, dphi_flat) for mm in range(3)], axis=-1)
            W = W.reshape(C, n, N3, K, 3, 3).transpose(0, 2, 4, 5, 3, 1).reshape(P * 9, K * n)
            Ah = Ahat.reshape(K * n, S_ * P)
            for l in range(L + 1):
                cs = slice(offs[l] * n, offs[l + 1] * n)
                T = (W[:, cs] @ Ah[cs]).reshape(P, 3, 3, S_, P)  # [a, m, m', e, b]
                T = T + T.transpose(4, 1, 2, 3, 0)
                vir[:, :, :, cols3[l]] += T[tri[0], :, :, :, tri[1]].transpose(1, 2, 3, 0)
            sym_s = 0.5 * (vir + vir.transpose(1, 0, 2, 3)) / V
            X_s = np.stack([sym_s[a, b] for a, b in _VOIGT]).reshape(6, S_ * F)
        return x_energy.reshape(S_ * F), X_f, X_s

    def fit(self, frames: Sequence[Atoms], on_epoch: Any = None) -> LinearACEPotential:
        """Ridge fit of all weights on energies, forces and (periodic frames) stresses.

        One linear solve, no epochs: ``on_epoch``, when given, is called once with the force
        MAE (its ``score``) on up to 50 of the training frames.
        """
        from threadpoolctl import threadpool_limits

        frames = list(frames)
        if not frames:
            raise ValueError("LinearACEPotential.fit needs at least one labelled frame")
        if self.elements is not None:
            els = sorted(set(self.elements), key=lambda e: atomic_numbers[e])
        else:
            els = [chemical_symbols[x] for x in sorted({int(x) for fr in frames for x in fr.numbers})]
        self.elements_ = els
        self.channels_ = self._channel_matrix(els)
        sz = self._sizes()
        S_ = sz["S"]
        nf = S_ * sz["F"]
        AtA = np.zeros((nf, nf))
        Atb = np.zeros(nf)
        we, wf, ws = float(self.energy_weight), float(self.force_weight), float(self.stress_weight)
        rows: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        n_rows = 0

        def flush() -> None:
            nonlocal n_rows
            if rows:
                X = np.concatenate(rows)
                y = np.concatenate(targets)
                AtA[...] += X.T @ X
                Atb[...] += X.T @ y
                rows.clear()
                targets.clear()
                n_rows = 0

        for fr in frames:
            e, f, s = _labels(fr)
            z = _element_index(fr.numbers, els, "LinearACEPotential")
            n = len(fr)
            # many small matrix products: one BLAS thread is faster (threads spinning on a busy
            # or 2-core machine cost 2-5x here; measured 17 vs 46 ms per 32-atom frame)
            with threadpool_limits(limits=1):
                x_e, X_f, X_s = self._design(fr, z, s is not None and ws > 0)
            rows.append((we / n) * x_e[None, :])
            targets.append(np.array([(we / n) * e]))
            rows.append(wf * X_f)
            targets.append(wf * f.reshape(-1))
            if X_s is not None:
                k = ws * fr.get_volume() / n
                rows.append(k * X_s)
                targets.append(k * s)
            n_rows += 1 + 3 * n + (6 if X_s is not None else 0)
            if n_rows * nf > 20_000_000:
                flush()
        flush()
        scale = np.sqrt(np.diag(AtA))
        scale[scale == 0] = 1.0
        An = AtA / scale[:, None] / scale[None, :]
        An[np.diag_indices_from(An)] += float(self.regularization)
        import scipy.linalg

        try:
            w = scipy.linalg.solve(An, Atb / scale, assume_a="pos")
        except (np.linalg.LinAlgError, ValueError, scipy.linalg.LinAlgError):
            w = np.linalg.lstsq(An, Atb / scale, rcond=None)[0]
        self.coef_ = (w / scale).reshape(S_, sz["F"])
        self.n_features_ = int(nf)
        self._set_sym_weights()
        self.reset()
        if on_epoch is not None:
            ft, fp = [], []
            for fr in frames[: min(len(frames), 50)]:
                at = Atoms(numbers=fr.numbers, positions=fr.positions, cell=fr.cell, pbc=fr.pbc)
                fp.append(self._evaluate(at, False)["forces"].ravel())
                ft.append(np.asarray(fr.arrays["forces"], float).ravel())
            on_epoch(1, on_epoch.score(np.concatenate(ft), np.concatenate(fp)))
        return self

    def _set_sym_weights(self) -> None:
        """M[e, l] symmetric with Σ_ab M_ab A_a·A_b = Σ_{a≤b} w_ab A_a·A_b (off-diagonal halves)."""
        sz = self._sizes()
        S_, P, L = sz["S"], sz["P"], int(self.l_max)
        w3 = self.coef_[:, 1 + sz["n2"] :].reshape(S_, sz["n_pairs"], L + 1)
        tri = np.triu_indices(P)
        M = np.zeros((S_, L + 1, P, P))
        for e in range(S_):
            for l in range(L + 1):
                m = np.zeros((P, P))
                m[tri] = w3[e, :, l]
                M[e, l] = 0.5 * (m + m.T)
        self._sym_weights_ = M


def _scatter(rows: Any, n_rows: int, values: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    """out[rows[p]] += scale[p] * values[p], as one sparse product.

    ``rows`` is an index array over the rows of ``values`` (weights ``scale``, default ones) or a
    list of (index array, weights) terms, each adding weights[p] * values[p] at its rows.
    """
    import scipy.sparse as sp

    p = len(values)
    terms = rows if isinstance(rows, list) else [(rows, np.ones(p) if scale is None else np.asarray(scale, float))]
    rr, cc, dd = [], [], []
    cols = np.arange(p)
    for r, w in terms:
        keep = w != 0
        rr.append(np.asarray(r)[keep])
        cc.append(cols[keep])
        dd.append(np.asarray(w, float)[keep])
    if p == 0:  # no pairs within the cutoff (an isolated atom, a stretched dimer)
        return np.zeros((n_rows,) + values.shape[1:])
    flat = values.reshape(p, -1)
    m = sp.csr_matrix((np.concatenate(dd), (np.concatenate(rr), np.concatenate(cc))), shape=(n_rows, p))
    return np.asarray(m @ flat).reshape((n_rows,) + values.shape[1:])


# ============================================================================================
# SchNet on PyTorch Geometric
# ============================================================================================


def schnet_graph(atoms: Atoms, cutoff: float, nl: Any = None, dtype: Any = None) -> dict[str, Any]:
    """What ``SchNetPotential`` consumes for one configuration, as torch tensors.

    ``z`` (n,) atomic numbers, ``pos`` (n, 3) Å, ``edge_index`` (2, pairs) as [j, i] (messages
    flow from neighbour j to centre i), ``shift`` (pairs, 3) integer image shifts, ``cell``
    (3, 3) Å (zeros for molecules). Distances are recomputed from these in the network, so that
    gradients with respect to positions and strain flow.
    """
    import torch

    dtype = dtype or torch.float32
    i, j, S = neighbour_pairs(atoms, cutoff, nl)
    periodic = bool(np.asarray(atoms.pbc).any())
    cell = atoms.cell.array if periodic else np.zeros((3, 3))
    # dtype conversions in numpy, not torch: torch's ``.to`` goes parallel above 32,768 elements
    # (~11,000 pairs), and on a busy two-core machine that made this function 5-20x slower than
    # the neighbour list itself (benchmarks/bench_graph_construction.py)
    npd = np.float32 if dtype == torch.float32 else np.float64
    return {
        "z": torch.from_numpy(np.asarray(atoms.numbers, dtype=np.int64)),
        "pos": torch.from_numpy(np.ascontiguousarray(atoms.positions, dtype=npd)).to(dtype),
        "edge_index": torch.from_numpy(np.stack([j, i])),
        "shift": torch.from_numpy(S.astype(npd)).to(dtype),
        "cell": torch.from_numpy(np.asarray(cell, dtype=npd)).to(dtype),
    }


@lru_cache(maxsize=1)
def _schnet_module_class() -> type:
    import torch
    from torch_geometric.nn.models.schnet import CFConv, GaussianSmearing, InteractionBlock, ShiftedSoftplus

    class _SharedFilterBlock(torch.nn.Module):
        """PyG's SchNet interaction (CFConv -> shifted softplus -> linear) on a filter computed
        once for all blocks (SchNetPack's ``shared_filters``): CFConv gets the filter as its edge
        attribute and an identity filter network, and still applies the cosine cutoff."""

        def __init__(self, hidden: int, filters: int, cutoff: float) -> None:
            super().__init__()
            self.conv = CFConv(hidden, hidden, filters, torch.nn.Identity(), cutoff)
            self.act = ShiftedSoftplus()
            self.lin = torch.nn.Linear(hidden, hidden)
            torch.nn.init.xavier_uniform_(self.lin.weight)
            self.lin.bias.data.fill_(0.0)

        def forward(self, x, edge_index, edge_weight, filt):
            return self.lin(self.act(self.conv(x, edge_index, edge_weight, filt)))

    class _SchNet(torch.nn.Module):
        """Embedding -> interaction blocks (residual) -> per-atom MLP -> scaled per-atom energies."""

        def __init__(self, hidden: int, filters: int, interactions: int, gaussians: int, cutoff: float, shared: bool) -> None:
            super().__init__()
            self.cutoff = float(cutoff)
            self.shared = bool(shared)
            self.embedding = torch.nn.Embedding(119, hidden)
            self.rbf = GaussianSmearing(0.0, cutoff, gaussians)
            if self.shared:
                self.filter = torch.nn.Sequential(torch.nn.Linear(gaussians, filters), ShiftedSoftplus(), torch.nn.Linear(filters, filters))
                for k in (0, 2):
                    torch.nn.init.xavier_uniform_(self.filter[k].weight)
                    self.filter[k].bias.data.fill_(0.0)
                self.blocks = torch.nn.ModuleList(_SharedFilterBlock(hidden, filters, cutoff) for _ in range(interactions))
            else:
                self.blocks = torch.nn.ModuleList(InteractionBlock(hidden, gaussians, filters, cutoff) for _ in range(interactions))
            self.lin1 = torch.nn.Linear(hidden, hidden // 2)
            self.act = ShiftedSoftplus()
            self.lin2 = torch.nn.Linear(hidden // 2, 1)
            torch.nn.init.xavier_uniform_(self.lin1.weight)
            self.lin1.bias.data.fill_(0.0)
            torch.nn.init.xavier_uniform_(self.lin2.weight)
            self.lin2.bias.data.fill_(0.0)
            self.register_buffer("scale", torch.tensor(1.0))

        def forward(self, z, pos, edge_index, shift_vec):
            """Per-atom energies (eV, without the per-element references) for atoms ``z`` at ``pos``
            with edge vectors pos[j] - pos[i] + shift_vec."""
            j, i = edge_index[0], edge_index[1]
            vec = pos[j] - pos[i] + shift_vec
            dist = torch.sqrt((vec * vec).sum(-1))
            h = self.embedding(z)
            attr = self.rbf(dist)
            if self.shared:
                attr = self.filter(attr)
            for block in self.blocks:
                h = h + block(h, edge_index, dist, attr)
            out = self.lin2(self.act(self.lin1(h))).squeeze(-1)
            return out * self.scale

    return _SchNet


class SchNetPotential(Calculator):
    """SchNet interatomic potential trained on energies and forces (and stresses when labelled).

    Parameters
    ----------
    hidden_channels, num_filters, num_interactions, num_gaussians: network size (PyG's SchNet
        blocks: continuous-filter convolutions with a cosine cutoff).
    shared_filters: one filter-generating network for all interaction blocks (SchNetPack's
        ``shared_filters``; halves the cost of a training step: 58 vs 120 ms of CPU for 4 x 32
        atoms) -- False uses PyG's ``InteractionBlock`` with a filter network per block.
    cutoff: neighbour cutoff (Å).
    max_epochs: epochs at most (default 5: ~10-20 s on 300 frames of 32 atoms on 2 cores, the
        quick suite's budget, ~20-30 meV/Å on EMT alloys; give 50-200 for converged numbers).
        There is no wall-time limit: the budget is in epochs, so the same spec gives the same
        weights on a quiet and on a loaded machine. Training also stops when ``on_epoch`` returns
        True.
    batch_size: configurations per Adam step; ``learning_rate`` its initial step size, decayed by
        ``lr_decay`` per epoch.
    energy_weight, force_weight, stress_weight: loss weights on (energy per atom)² in eV²,
        (force components)² in (eV/Å)² and (stress·V/N)² in eV².
    validation_fraction: configurations held out for ``on_epoch`` and best-weight selection.
    dtype: ``"float32"`` (default) or ``"float64"``.
    random_state: seeds weights, the split and the batch order (identical fits on CPU).

    Learned: ``module_`` (the network), ``elements_``, ``history_`` [(epoch, val force MAE eV/Å)],
    ``best_epoch_``.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]
    periodic_ok = True
    _PARAMS = ("hidden_channels", "num_filters", "num_interactions", "num_gaussians", "shared_filters", "cutoff", "max_epochs",
               "batch_size", "learning_rate", "lr_decay", "energy_weight", "force_weight", "stress_weight",
               "validation_fraction", "dtype", "random_state")

    def __init__(
        self,
        hidden_channels: int = 64,
        num_filters: int = 64,
        num_interactions: int = 3,
        num_gaussians: int = 25,
        shared_filters: bool = True,
        cutoff: float = 5.0,
        max_epochs: int = 5,
        batch_size: int = 4,
        learning_rate: float = 5e-3,
        lr_decay: float = 0.95,
        energy_weight: float = 1.0,
        force_weight: float = 10.0,
        stress_weight: float = 1.0,
        validation_fraction: float = 0.1,
        dtype: str = "float32",
        random_state: int | None = None,
        **kwargs: Any,
    ) -> None:
        require_packages('the SchNet potential', 'torch', 'torch_geometric')
        super().__init__(**kwargs)
        self.hidden_channels = hidden_channels
        self.num_filters = num_filters
        self.num_interactions = num_interactions
        self.num_gaussians = num_gaussians
        self.shared_filters = shared_filters
        self.cutoff = cutoff
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lr_decay = lr_decay
        self.energy_weight = energy_weight
        self.force_weight = force_weight
        self.stress_weight = stress_weight
        self.validation_fraction = validation_fraction
        self.dtype = dtype
        self.random_state = random_state
        self._nl = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_nl"] = None  # vesin's neighbour list is rebuilt on demand
        return state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **params: Any) -> SchNetPotential:
        _check_params(self, self._PARAMS, params)
        for k, v in params.items():
            setattr(self, k, v)
        self._nl = None
        self.reset()
        return self

    def __repr__(self) -> str:
        return (f"SchNetPotential(hidden_channels={self.hidden_channels}, num_interactions={self.num_interactions}, "
                f"cutoff={self.cutoff})")

    @property
    def supported_elements(self) -> set[str] | None:
        return set(self.elements_) if hasattr(self, "elements_") else None

    def _torch_dtype(self):
        import torch

        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        return torch.float32 if self.dtype == "float32" else torch.float64

    def _graph(self, atoms: Atoms) -> dict[str, Any]:
        import vesin

        if self._nl is None:
            self._nl = vesin.NeighborList(cutoff=float(self.cutoff), full_list=True)
        return schnet_graph(atoms, self.cutoff, self._nl, self._torch_dtype())

    @staticmethod
    def _collate(graphs: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        if len(graphs) == 1:  # one configuration (an MD step, a calculator call): no copies
            g = graphs[0]
            zeros = np.zeros(max(len(g["z"]), g["edge_index"].shape[1]), dtype=np.int64)  # numpy: see schnet_graph
            return {**g, "cell": g["cell"][None], "batch": torch.from_numpy(zeros[: len(g["z"])]),
                    "ebatch": torch.from_numpy(zeros[: g["edge_index"].shape[1]]), "n_graphs": 1}
        offs, n = [], 0
        for g in graphs:
            offs.append(n)
            n += len(g["z"])
        batch = torch.cat([torch.full((len(g["z"]),), k, dtype=torch.long) for k, g in enumerate(graphs)])
        ebatch = torch.cat([torch.full((g["edge_index"].shape[1],), k, dtype=torch.long) for k, g in enumerate(graphs)])
        return {
            "z": torch.cat([g["z"] for g in graphs]),
            "pos": torch.cat([g["pos"] for g in graphs]),
            "edge_index": torch.cat([g["edge_index"] + o for g, o in zip(graphs, offs)], dim=1),
            "shift": torch.cat([g["shift"] for g in graphs]),
            "cell": torch.stack([g["cell"] for g in graphs]),
            "batch": batch,
            "ebatch": ebatch,
            "n_graphs": len(graphs),
        }

    def _energy_forces(self, b: dict[str, Any], want_stress: bool, create_graph: bool):
        """(network energy per graph, per-atom network energies, forces, stress (graphs, 3, 3) or None).

        Energies exclude the per-element reference energies (added in float64 by the callers)."""
        import torch

        net = self.module_
        dt = b["pos"].dtype
        G = b["n_graphs"]
        pos = b["pos"].detach().clone().requires_grad_(True)
        inputs = [pos]
        if want_stress:
            eps = torch.zeros((G, 3, 3), dtype=dt, requires_grad=True)
            inputs.append(eps)
            defo = torch.eye(3, dtype=dt)[None] + eps
            pos_s = torch.bmm(pos[:, None, :], defo[b["batch"]]).squeeze(1)
            cell_s = torch.bmm(b["cell"], defo)
            shift_vec = torch.bmm(b["shift"][:, None, :], cell_s[b["ebatch"]]).squeeze(1)
        else:
            pos_s = pos
            shift_vec = torch.bmm(b["shift"][:, None, :], b["cell"][b["ebatch"]]).squeeze(1)
        e_atoms = net(b["z"], pos_s, b["edge_index"], shift_vec)
        energy = torch.zeros(G, dtype=dt).index_add(0, b["batch"], e_atoms)
        grads = torch.autograd.grad(energy.sum(), inputs, create_graph=create_graph)
        forces = -grads[0]
        stress = None
        if want_stress:
            vol = torch.abs(torch.linalg.det(b["cell"]))
            g = grads[1]
            stress = 0.5 * (g + g.transpose(1, 2)) / vol[:, None, None]
        return energy, e_atoms, forces, stress

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if not hasattr(self, "module_"):
            raise RuntimeError("SchNetPotential is not fitted: call fit(frames) before using it as a calculator")
        at = self.atoms
        want_stress = "stress" in properties
        if want_stress and not at.pbc.all():
            raise PropertyNotImplementedError("stress is defined for cells periodic in all three directions only")
        unknown = sorted(set(at.get_chemical_symbols()) - set(self.elements_))
        if unknown:
            raise ValueError(f"SchNetPotential was fitted on {', '.join(self.elements_)} and has never seen {', '.join(unknown)}")
        dt = self._torch_dtype()
        if self.module_.scale.dtype != dt:  # dtype changed after fitting (e.g. float64 for checks)
            self.module_.to(dt)
        b = self._collate([self._graph(at)])
        with deterministic_torch():
            energy, e_atoms, forces, stress = self._energy_forces(b, want_stress, False)
        e_ref = self.e0_[at.numbers]
        res: dict[str, Any] = {
            "energy": float(energy.detach().double()[0]) + float(e_ref.sum()),
            "energies": e_atoms.detach().double().numpy() + e_ref,
            "forces": forces.detach().double().numpy(),
        }
        if want_stress:
            res["stress"] = _voigt(stress.detach().double().numpy()[0])
        res["free_energy"] = res["energy"]
        self.results = res

    def fit(self, frames: Sequence[Atoms], on_epoch: Any = None) -> SchNetPotential:
        """Train with Adam on energies and forces; report the validation force MAE every epoch.

        After each epoch ``on_epoch(epoch, on_epoch.score(F_true, F_pred))`` is called with the
        held-out force components (eV/Å; the harness's ``score`` returns meV/Å); training stops
        when it returns True or after ``max_epochs``. The weights of the
        epoch with the lowest validation force MAE are kept.
        """
        with deterministic_torch():
            return self._fit(list(frames), on_epoch)

    def _fit(self, frames: list[Atoms], on_epoch: Any) -> SchNetPotential:
        import torch

        frames = list(frames)
        if not frames:
            raise ValueError("SchNetPotential.fit needs at least one labelled frame")
        t_start = time.perf_counter()
        seed = 0 if self.random_state is None else int(self.random_state)
        rng = np.random.default_rng(seed)
        dt = self._torch_dtype()
        labels = [_labels(fr) for fr in frames]
        zs = sorted({int(x) for fr in frames for x in fr.numbers})
        self.elements_ = [chemical_symbols[x] for x in zs]
        # per-element reference energies: least squares on composition
        counts = np.array([[np.sum(fr.numbers == z) for z in zs] for fr in frames], dtype=float)
        energies = np.array([lab[0] for lab in labels])
        e0 = np.linalg.lstsq(counts, energies, rcond=None)[0]
        f_all = np.concatenate([lab[1].ravel() for lab in labels])
        scale = float(np.sqrt(np.mean(f_all**2))) if f_all.size and np.any(f_all) else 1.0
        if not np.isfinite(scale) or scale <= 0:
            resid = (energies - counts @ e0) / counts.sum(axis=1)
            scale = float(np.std(resid)) or 1.0

        cls = _schnet_module_class()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = cls(int(self.hidden_channels), int(self.num_filters), int(self.num_interactions), int(self.num_gaussians),
                      float(self.cutoff), bool(self.shared_filters))
        net = net.to(dt)
        net.scale.fill_(scale)
        self.e0_ = np.zeros(119)
        self.e0_[zs] = e0
        self.module_ = net
        self.reset()

        graphs = [self._graph(fr) for fr in frames]
        for g, (e, f, s), fr in zip(graphs, labels, frames):
            g["energy"] = torch.tensor(e - float(self.e0_[fr.numbers].sum()), dtype=torch.float64)
            g["forces"] = torch.from_numpy(f).to(dt)
            g["n"] = len(fr)
            g["stress"] = torch.from_numpy(s).to(dt) if s is not None else None
            g["vol_per_atom"] = fr.get_volume() / len(fr) if fr.pbc.all() else 0.0

        # start with no mean energy offset: the untrained network's per-atom energies, averaged
        # over (up to 32) training frames, are taken out through the last bias
        with torch.no_grad():
            probe = self._collate(graphs[: min(32, len(graphs))])
            shift_vec = torch.bmm(probe["shift"][:, None, :], probe["cell"][probe["ebatch"]]).squeeze(1)
            e_init = net(probe["z"], probe["pos"], probe["edge_index"], shift_vec)
            net.lin2.bias -= float(e_init.mean()) / scale

        n = len(frames)
        perm = rng.permutation(n)
        n_val = int(round(float(self.validation_fraction) * n)) if n >= 5 else 0
        if self.validation_fraction and n >= 5:
            n_val = max(1, n_val)
        val_idx, tr_idx = perm[:n_val], perm[n_val:]
        if len(tr_idx) == 0:
            tr_idx = perm
        val_idx = val_idx if len(val_idx) else tr_idx
        val_batches = [self._collate([graphs[k] for k in val_idx[a : a + 16]]) for a in range(0, len(val_idx), 16)]
        f_val = np.concatenate([graphs[k]["forces"].double().numpy().ravel() for k in val_idx])

        opt = torch.optim.Adam(net.parameters(), lr=float(self.learning_rate))
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=float(self.lr_decay))
        we, wf, ws = float(self.energy_weight), float(self.force_weight), float(self.stress_weight)
        bs = max(1, int(self.batch_size))
        best = (math.inf, 0, None)
        self.history_ = []
        voigt = torch.tensor([a * 3 + b for a, b in _VOIGT])
        for epoch in range(1, int(self.max_epochs) + 1):
            net.train()
            order = tr_idx[rng.permutation(len(tr_idx))]
            for a in range(0, len(order), bs):
                chunk = [graphs[k] for k in order[a : a + bs]]
                b = self._collate(chunk)
                with_s = ws > 0 and all(g["stress"] is not None for g in chunk)
                energy, _, forces, stress = self._energy_forces(b, with_s, True)
                n_at = torch.tensor([g["n"] for g in chunk], dtype=dt)
                e_true = torch.stack([g["energy"] for g in chunk])
                de = ((energy.double() - e_true) / n_at.double()).to(dt)
                f_true = torch.cat([g["forces"] for g in chunk])
                loss = we * (de**2).mean() + wf * ((forces - f_true) ** 2).mean()
                if with_s:
                    s_true = torch.stack([g["stress"] for g in chunk])
                    k = torch.tensor([g["vol_per_atom"] for g in chunk], dtype=dt)[:, None]
                    s_pred = stress.reshape(len(chunk), 9)[:, voigt]
                    loss = loss + ws * (((s_pred - s_true) * k) ** 2).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sched.step()
            # validation forces
            net.eval()
            f_pred = np.concatenate([self._energy_forces(vb, False, False)[2].detach().double().numpy().ravel() for vb in val_batches])
            mae = float(np.mean(np.abs(f_pred - f_val)))
            self.history_.append((epoch, mae))
            if mae < best[0] or best[2] is None:
                best = (mae, epoch, {k: v.detach().clone() for k, v in net.state_dict().items()})
            stop = False
            if on_epoch is not None:
                stop = bool(on_epoch(epoch, on_epoch.score(f_val, f_pred)))
            if stop:
                break
        net.load_state_dict(best[2])
        net.eval()
        for p_ in net.parameters():
            p_.requires_grad_(False)
        self.best_epoch_ = best[1]
        self.fit_time_s_ = time.perf_counter() - t_start
        self.reset()
        return self


# ============================================================================================
# Registry entries
# ============================================================================================

MODEL_ENTRIES: list[ModelEntry] = [
    ModelEntry("emt_reference", "matscibench.models.potentials:EMTReference", {},
               "ASE's EMT, the labels of the EMT datasets (zero error; the cost of the reference)", family="potentials"),
    ModelEntry("xtb_reference", "matscibench.models.potentials:XTBReference", {},
               "GFN2-xTB through tblite, the labels of the xTB datasets (zero error; the cost of the reference)",
               family="potentials"),
    ModelEntry("linear_acelike", "matscibench.models.potentials:LinearACEPotential", {},
               "linear 2+3-body potential (Cartesian moments, cos^l θ up to l=4, 5 Å), ridge on energies, forces "
               "and stresses; analytic forces and stress", family="potentials"),
    # "schnet" names the molecules family's property model; the potential is "schnet_potential" only
    ModelEntry("schnet_potential", "matscibench.models.potentials:SchNetPotential", {},
               "SchNet interatomic potential on PyG (64 features, 3 interactions, 5 Å), Adam on energies+forces, "
               "forces and stress by autograd; reports the validation force MAE per epoch", family="potentials"),
    ModelEntry("chgnet", "matscibench.models.potentials:CHGNetModel", {},
               "CHGNet 0.3.0 universal potential (pretrained on MPtrj), no fitting; needs pip install chgnet",
               family="potentials"),
    ModelEntry("sevennet", "matscibench.models.potentials:SevenNetModel", {},
               "SevenNet-0 universal potential (pretrained on MPtrj), no fitting; needs pip install sevenn",
               family="potentials"),
]
