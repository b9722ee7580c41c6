"""Fixed calculators as models: the reference calculators and adapters for pretrained potentials.

Every model here hands each configuration to an inner ASE calculator (``Delegating``) and has
nothing to learn (``fit`` returns the model):

- ``EMTReference`` and ``XTBReference``: the calculators that made the labels (ASE's EMT through
  ``sim.emt.FastEMT`` for periodic cells, GFN2-xTB through tblite), as sanity rows with zero
  error and a known cost;
- adapters for pretrained universal potentials, imported lazily: ``CHGNetModel``,
  ``SevenNetModel``, ``MACEModel``, ``MatterSimModel`` and the generic ``ASECalculatorModel``.
  A missing package raises ``ImportError`` with the pip command that installs it without
  touching the installed torch; a missing weights file raises ``FileNotFoundError`` naming it.

They declare ``supported_elements`` (a set of symbols, or None for any) and ``periodic_ok`` so the
potentials task can skip pairs that cannot run. Parameters follow scikit-learn (``get_params``
and ``__repr__`` from ``BaseEstimator``); ``set_params`` rebuilds the inner calculator.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.data import chemical_symbols
from sklearn.base import BaseEstimator

from matscibench.families.potentials.models.common import missing_package, torch_pin, voigt

__all__ = [
    "Delegating",
    "EMTReference",
    "XTBReference",
    "XTB_ELEMENTS",
    "ASECalculatorModel",
    "CHGNetModel",
    "SevenNetModel",
    "MACEModel",
    "MatterSimModel",
]


def _check_params(obj: Any, names: Sequence[str], params: dict[str, Any]) -> None:
    for k in params:
        if k not in names:
            raise ValueError(f"invalid parameter {k!r} for {type(obj).__name__}; valid: {', '.join(names)}")


class Delegating(Calculator, BaseEstimator):
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
            res["stress"] = voigt(res["stress"])
        self.results = res

    def fit(self, frames: Sequence[Atoms] | None = None, on_epoch: Any = None) -> Delegating:
        """Nothing to learn: a fixed calculator."""
        return self

    def set_params(self, **params: Any) -> Delegating:
        """Rebuild with new parameters (the inner calculator depends on them)."""
        current = self.get_params(deep=False)
        _check_params(self, list(current), params)
        self.__init__(**{**current, **params})  # type: ignore[misc]
        return self


class EMTReference(Delegating):
    """ASE's EMT (Jacobsen, Stoltze & Nørskov 1996) as a model: the labels of the EMT datasets.

    Periodic cells go through ``matscibench.sim.emt.FastEMT`` (same physics, vesin neighbour
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
                from matscibench.sim.emt import FastEMT

                self._periodic_calc = FastEMT()
            return self._periodic_calc
        if self._open_calc is None:
            from ase.calculators.emt import EMT

            self._open_calc = EMT()
        return self._open_calc


#: GFN2-xTB is parameterised for H to Rn (Bannwarth, Ehlert & Grimme, JCTC 15, 1652 (2019))
XTB_ELEMENTS = frozenset(chemical_symbols[1:87])


class XTBReference(Delegating):
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
            raise missing_package("tblite", "tblite", "XTBReference") from exc
        self._calc = TBLite(method=method, verbosity=0)

    def _inner(self, atoms: Atoms) -> Calculator:
        return self._calc


class ASECalculatorModel(Delegating):
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
                f"that provides it, e.g.: pip install {top}{torch_pin()} (pin torch so pip keeps the installed build)"
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


def _boxed(atoms: Atoms, vacuum: float) -> Atoms:
    """A molecule in a periodic box with ``vacuum`` Å between images (for periodic-only models)."""
    out = atoms.copy()
    out.calc = None
    span = np.ptp(out.positions, axis=0) if len(out) else np.zeros(3)
    out.set_cell(np.diag(span + vacuum))
    out.center()
    out.pbc = True
    return out


class CHGNetModel(Delegating):
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
            raise missing_package("chgnet", "chgnet", "CHGNetModel") from exc
        with contextlib.redirect_stdout(io.StringIO()):  # chgnet prints its device and size
            model = CHGNet.load(model_name=model_version, use_device=device, verbose=False)
            self._calc = CHGNetCalculator(model=model, use_device=device)
        self.supported_elements = set(chemical_symbols[1:95])

    def _prepare(self, atoms: Atoms) -> Atoms:
        return atoms if atoms.pbc.all() else _boxed(atoms, self.molecule_vacuum)

    def _inner(self, atoms: Atoms) -> Calculator:
        return self._calc


class SevenNetModel(Delegating):
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
            raise missing_package("sevenn", "sevenn", "SevenNetModel") from exc
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the "no tensor-product accelerator" notice
            self._calc = SevenNetCalculator(model, device=device)
        self.supported_elements = {chemical_symbols[int(z)] for z in self._calc.type_map}

    def _inner(self, atoms: Atoms) -> Calculator:
        return self._calc


def _weights_path(path: str | os.PathLike | None, default_name: str, family: str) -> Path:
    if path is not None:
        return Path(path).expanduser()
    from matscibench.paths import cache_dir

    return cache_dir() / "models" / family / default_name


class MACEModel(Delegating):
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
            raise missing_package("mace", "mace-torch", "MACEModel") from exc
        self._calc = MACECalculator(model_paths=str(path), device=device, default_dtype=default_dtype)

    def _inner(self, atoms: Atoms) -> Calculator:
        return self._calc


class MatterSimModel(Delegating):
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
            raise missing_package("mattersim", "mattersim", "MatterSimModel") from exc
        self._calc = MatterSimCalculator(load_path=str(path), device=device)

    def _inner(self, atoms: Atoms) -> Calculator:
        return self._calc

