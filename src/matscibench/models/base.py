"""The contracts models follow, and the checks the harness applies to what they return.

Property models follow scikit-learn: ``fit(X, y)`` then ``predict(X)``, where ``X`` is a list of
pymatgen ``Structure`` (crystals), ``Composition`` (composition-only tasks) or ``Molecule`` objects
and ``y`` a float array (regression) or a bool array (classification). Classifiers may add
``predict_proba(X)`` (ROC-AUC then uses the probability of ``True``). Hyper-parameters go in
``__init__``; a ``random_state`` parameter, when present, receives the job's seed.

Training that reports progress accepts an ``on_epoch`` keyword in ``fit``: the harness passes an
``EpochCallback`` and the model calls ``on_epoch(epoch, val_metric)`` after each epoch with its own
validation score in the task's metric (``on_epoch.metric``; ``on_epoch.score(y_true, y_pred)``
computes it exactly as the task does). The harness turns those calls into time-to-target.

A model may declare ``input_types = ("structure", "composition")`` to say what it accepts; jobs
pairing it with other tasks are skipped with that reason instead of failing.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from matscibench.errors import ModelOutputError

__all__ = [
    "PropertyModel",
    "ModelCard",
    "ModelEntry",
    "TRAINED_ON_TASK",
    "count_parameters",
    "EpochCallback",
    "fit_with_callback",
    "fit_accepts",
    "deterministic_torch",
    "torch_deterministic",
    "check_predictions",
    "set_seed",
    "is_classification_target",
]


@runtime_checkable
class PropertyModel(Protocol):
    def fit(self, X: Sequence[Any], y: np.ndarray) -> Any: ...

    def predict(self, X: Sequence[Any]) -> np.ndarray: ...


def require_packages(what: str, *packages: str, extra: str = "ml") -> None:
    """Raise ImportError naming the install command when a package ``what`` needs is missing.

    Called from model constructors, so a suite learns at plan time (without importing the package)
    that a model cannot run here; an optional model is then left out with this message."""
    import importlib.util

    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    if missing:
        raise ImportError(
            f"{what} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed; "
            f"install with: pip install -e \".[{extra}]\" (or pip install 'matscibench[{extra}]')"
        )



#: the training data of a model that each job fits on the task's own training split (no leakage)
TRAINED_ON_TASK = "the task's training split"

#: the fields of a model card, in the order reports show them
CARD_FIELDS = ("name", "version", "authors", "license", "doi", "code_url", "training_data", "n_parameters",
               "hyperparameters", "hardware", "notes")


@dataclass(frozen=True)
class ModelCard:
    """What a model is, where it comes from and what it was trained on (matbench-discovery's model
    YAML, trimmed to what a benchmark row needs). Stored with every job, shown in the report.

    ``training_data`` names datasets (``"MPtrj"``, ``"Materials Project"``, ``"QM9"``) or is
    ``(TRAINED_ON_TASK,)`` for a model fitted on each task's own training split; the report
    compares it with the sources the task's datasets declare and flags possible leakage.
    ``n_parameters``: learnable parameters (None: not stated; for torch models the harness counts
    them after fitting). ``hardware``: what it was trained on (a model trained in the job: that
    job's machine). Empty strings mean "not stated".
    """

    name: str = ""
    version: str = ""
    authors: tuple[str, ...] = ()
    license: str = ""
    doi: str = ""
    code_url: str = ""
    training_data: tuple[str, ...] = ()
    n_parameters: int | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    hardware: str = ""
    notes: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in
                ((f, getattr(self, f)) for f in CARD_FIELDS)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "model card") -> ModelCard:
        """A card from a mapping (a YAML/JSON file); unknown keys or wrong types raise ``ValueError``
        naming ``where`` and the field."""
        if not isinstance(d, dict):
            raise ValueError(  # noqa: TRY004 - every bad card is a ValueError (callers turn it into a file error)
                f"{where}: a model card is a mapping of {', '.join(CARD_FIELDS)}; got {type(d).__name__}")
        unknown = sorted(set(d) - set(CARD_FIELDS))
        if unknown:
            raise ValueError(f"{where}: unknown model-card field(s) {unknown}; the fields are {', '.join(CARD_FIELDS)}")
        kw: dict[str, Any] = {}
        for k, v in d.items():
            if v is None:
                continue
            if k in ("authors", "training_data"):
                v = [v] if isinstance(v, str) else v
                if not isinstance(v, (list, tuple)) or not all(isinstance(x, (str, int, float)) for x in v):
                    raise ValueError(f"{where}: {k} must be a list of names, got {v!r}")
                kw[k] = tuple(str(x) for x in v)
            elif k == "n_parameters":
                try:
                    kw[k] = int(str(v).replace("_", ""))
                except ValueError:
                    raise ValueError(f"{where}: n_parameters must be a whole number, got {v!r}") from None
            elif k == "hyperparameters":
                if not isinstance(v, dict):
                    raise ValueError(f"{where}: hyperparameters must be a mapping, got {type(v).__name__}")
                kw[k] = dict(v)
            else:
                kw[k] = str(v)
        return cls(**kw)

    def merged(self, **defaults: Any) -> ModelCard:
        """This card with its empty fields filled from ``defaults``."""
        import dataclasses

        fill = {k: v for k, v in defaults.items() if k in CARD_FIELDS and v not in (None, "", (), {})
                and getattr(self, k) in (None, "", (), {})}
        return dataclasses.replace(self, **fill) if fill else self


def count_parameters(model: Any) -> int | None:
    """Learnable parameters of the torch modules a fitted model holds as attributes (None: none found)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return None
    seen: set[int] = set()
    total, found = 0, False
    for v in list(getattr(model, "__dict__", {}).values()):
        if isinstance(v, torch.nn.Module):
            found = True
            for p in v.parameters():
                if id(p) not in seen and p.requires_grad:
                    seen.add(id(p))
                    total += int(p.numel())
    return total if found else None


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: ``factory`` is ``"package.module:Name"``, built with ``params``;
    ``family`` names the family whose tasks it is written for; ``card`` what the report says about
    it (fields left empty are filled in at run time: the name, for a model fitted in the job its
    training data, hyperparameters, parameter count and hardware)."""

    name: str
    factory: str
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    family: str = "properties"
    card: ModelCard | None = None


def is_classification_target(y: Any) -> bool:
    """Classification targets arrive as boolean arrays."""
    return np.asarray(y).dtype == bool


class EpochCallback:
    """What the harness passes as ``fit(..., on_epoch=cb)``.

    ``metric`` names the task's metric (e.g. ``"mae"``), ``higher_is_better`` its direction and
    ``target`` the task's time-to-target threshold (None when the task sets none). Calling
    ``cb(epoch, val_metric)`` records the value with the time since the job started.
    """

    def __init__(
        self,
        metric: str,
        higher_is_better: bool,
        target: float | None,
        score: Callable[[Any, Any], float],
        record: Callable[[int, float], float] | None = None,
    ) -> None:
        self.metric = metric
        self.higher_is_better = higher_is_better
        self.target = target
        self._score = score
        self._record = record
        self.history: list[tuple[int, float, float]] = []

    def score(self, y_true: Any, y_pred: Any) -> float:
        """The task's metric on the model's own validation data."""
        return float(self._score(y_true, y_pred))

    def reached(self, value: float) -> bool:
        if self.target is None or not math.isfinite(value):
            return False
        return value >= self.target if self.higher_is_better else value <= self.target

    def __call__(self, epoch: int, val_metric: float) -> bool:
        """Record one epoch; returns whether the target is reached (models may stop early)."""
        t = self._record(int(epoch), float(val_metric)) if self._record else float("nan")
        self.history.append((int(epoch), t, float(val_metric)))
        return self.reached(float(val_metric))


def fit_with_callback(model: Any, X: Sequence[Any], y: np.ndarray, cb: EpochCallback | None,
                      validation: tuple[Sequence[Any], np.ndarray] | None = None) -> None:
    """``model.fit(X, y, on_epoch=cb)`` when ``fit`` takes ``on_epoch``, else ``model.fit(X, y)``;
    ``validation`` = (inputs, targets) fixed by the task goes in as ``validation_data=`` to a ``fit``
    that takes it (the model then scores its epochs on it instead of holding out its own part)."""
    params = _fit_params(model)
    kw: dict[str, Any] = {}
    if cb is not None and "on_epoch" in params:
        kw["on_epoch"] = cb
    if validation is not None and "validation_data" in params:
        kw["validation_data"] = validation
    model.fit(X, y, **kw)


def _fit_params(model: Any) -> set[str]:
    try:
        return set(inspect.signature(model.fit).parameters)
    except (TypeError, ValueError):
        return set()


def fit_accepts(model: Any, name: str) -> bool:
    """Whether ``model.fit`` takes the keyword ``name`` (``on_epoch``, ``validation_data``, ...)."""
    return name in _fit_params(model)


def set_seed(model: Any, seed: int) -> None:
    """Give the job's seed to ``random_state`` (scikit-learn convention) and the global RNGs."""
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    if hasattr(model, "get_params") and hasattr(model, "set_params"):
        try:
            params = model.get_params(deep=False)
        except Exception:
            params = {}
        if "random_state" in params:
            model.set_params(random_state=seed)
    elif hasattr(model, "random_state"):
        model.random_state = seed
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic_torch() -> Iterator[None]:
    """Deterministic torch kernels inside the block, the caller's setting restored after.

    Every torch model's ``fit`` and ``predict`` runs inside it (same spec, same numbers). With two
    CPU threads the scatter-adds of message passing (and their gradients) otherwise sum in a
    varying order: two fits of the SchNet potential with the same seed differed by ~1e-7 in the
    weights. ``warn_only``: an operation without a deterministic kernel warns instead of failing.
    """
    import torch

    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


def torch_deterministic(method: Callable) -> Callable:
    """Decorator: run a torch model's ``fit`` / ``predict`` inside ``deterministic_torch()``."""
    import functools

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with deterministic_torch():
            return method(*args, **kwargs)

    return wrapper


def check_predictions(
    y_pred: Any, n_expected: int, *, classification: bool, describe: Callable[[int], str] | None = None, what: str = "predict"
) -> np.ndarray:
    """Validate a model's output: right length, one value per item, finite; return a 1-D array.

    Raises ``ModelOutputError`` with the count of bad values and the first offending item.
    """
    if y_pred is None:
        raise ModelOutputError(f"{what} returned None for {n_expected} inputs")
    try:
        arr = np.asarray(y_pred)
    except Exception as exc:
        raise ModelOutputError(f"{what} returned something that is not array-like: {type(y_pred).__name__}") from exc
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ModelOutputError(f"{what} returned an array of shape {arr.shape}; expected ({n_expected},)")
    if arr.shape[0] != n_expected:
        raise ModelOutputError(f"{what} returned {arr.shape[0]} predictions for {n_expected} inputs")
    if classification and arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(float)
        except (TypeError, ValueError) as exc:
            raise ModelOutputError(f"{what} returned non-numeric values (dtype {arr.dtype})") from exc
    bad = ~np.isfinite(arr.astype(float))
    if bad.any():
        first = int(np.nonzero(bad)[0][0])
        where = f" (first at index {first}: {describe(first)})" if describe else f" (first at index {first})"
        raise ModelOutputError(f"{what} returned {int(bad.sum())} non-finite value(s) (NaN or inf) out of {n_expected}{where}")
    if classification:
        uniq = np.unique(arr)
        if not set(uniq.tolist()) <= {0, 1}:
            raise ModelOutputError(f"{what} returned labels {uniq[:5].tolist()}; a binary task expects booleans or 0/1")
        return arr.astype(bool)
    return arr.astype(float)
