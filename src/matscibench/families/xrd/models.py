"""Baselines of the characterisation family: powder pattern -> crystal system, space group, lattice.

The contract (``matscibench.families.xrd.task``): ``fit(patterns, labels)`` with ``patterns`` a float
array (n, n_grid) on the task's 2θ grid (each pattern scaled to a maximum of 1) and ``labels``
either class labels (n,) (crystal-system names or space-group numbers) or lattice parameters
(n, 6): a, b, c (Å), α, β, γ (degrees). Classifiers give ``predict_proba(patterns)`` (n, n_classes)
in the order of ``classes_`` and ``predict``; regressors give ``predict(patterns)`` (n, 6). ``fit``
may take ``two_theta`` (the grid, degrees) and ``on_epoch`` (the harness's ``EpochCallback``).
Every model here declares ``input_types = ("pattern",)``: property tasks skip them, and the XRD
tasks skip models that take structures.

- ``PatternForest``: random forest or extremely randomised trees (Breiman 2001; Geurts et al.
  2006) on the pattern itself, on peak features (positions as sin²θ, their ratios to the first
  peak — what indexing by hand looks at — and intensities of the strongest peaks), or both; the
  forest baselines of the XRD-classification literature (e.g. the random forests of Suzuki et al.,
  Sci. Rep. 10, 21790 (2020), and of CrystalMELA, Corriero et al., J. Appl. Cryst. 56, 409 (2023)).
- ``PatternCNN``: a small 1-D convolutional network in PyTorch in the spirit of Park et al., IUCrJ
  4, 486 (2017) and Oviedo et al., npj Comput. Mater. 5, 60 (2019); reports its validation score
  after each epoch through ``on_epoch`` (time to target).
- ``PatternDummy``: majority class / mean lattice, the floor.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np

from sklearn.base import BaseEstimator

from matscibench.cost.meters import phase
from matscibench.models.base import require_packages, torch_deterministic

__all__ = ["PatternDummy", "PatternForest", "PatternCNN", "peak_features"]


def _as_patterns(X: Any) -> np.ndarray:
    P = np.asarray(X, dtype=np.float32)
    if P.ndim != 2:
        raise ValueError(f"patterns must be a 2-D array (n_patterns, n_grid), got shape {P.shape}")
    return P


def _transform(P: np.ndarray, how: str) -> np.ndarray:
    """``"none"`` or ``"sqrt"`` (square root of the intensities: weak peaks count more, as
    counting statistics suggest)."""
    if how in (None, "none"):
        return P
    if how == "sqrt":
        return np.sqrt(np.maximum(P, 0.0))
    raise ValueError(f"transform must be 'none' or 'sqrt', got {how!r}")


def _is_classification(y: np.ndarray) -> bool:
    return y.ndim == 1 and y.dtype.kind not in "fc"


class _Base(BaseEstimator):
    """Shared parts: input checks, ``predict`` from ``predict_proba``; parameters (``get_params``,
    ``set_params``, ``repr``) are scikit-learn's, read from ``__init__``."""

    input_types = ("pattern",)

    def _start(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        P = _as_patterns(X)
        y = np.asarray(y)
        if len(P) != len(y):
            raise ValueError(f"{len(P)} patterns but {len(y)} labels")
        self.classification_ = _is_classification(y)
        self.n_grid_ = P.shape[1]
        return P, y

    def _check(self, X: Any) -> np.ndarray:
        P = _as_patterns(X)
        if P.shape[1] != self.n_grid_:
            raise ValueError(f"patterns have {P.shape[1]} points; the model was fitted on {self.n_grid_}")
        return P

    def predict(self, X: Any) -> np.ndarray:
        if self.classification_:
            proba = self.predict_proba(X)
            return np.asarray(self.classes_)[np.argmax(proba, axis=1)]
        return self._predict_values(X)

    def _predict_values(self, X: Any) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError


# ----------------------------------------------------------------------------------- dummy
class PatternDummy(_Base):
    """Predicts the most frequent training class (probabilities: the training frequencies) or the
    training mean of each lattice parameter."""

    def fit(self, X: Any, y: Any) -> PatternDummy:
        P, y = self._start(X, y)
        if self.classification_:
            self.classes_, counts = np.unique(y, return_counts=True)
            self.frequency_ = counts / counts.sum()
        else:
            self.mean_ = np.mean(y.astype(float), axis=0)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        if not self.classification_:
            raise AttributeError("predict_proba is only defined for classification")
        return np.tile(self.frequency_, (len(self._check(X)), 1))

    def _predict_values(self, X: Any) -> np.ndarray:
        n = len(self._check(X))
        return np.tile(self.mean_, (n, 1)) if self.mean_.ndim else np.full(n, float(self.mean_))


# ------------------------------------------------------------------------------ features
def peak_features(patterns: np.ndarray, two_theta: np.ndarray, n_peaks: int = 20, wavelength: float = 1.54184,
                  prominence: float = 0.01) -> np.ndarray:
    """Per pattern: the ``n_peaks`` strongest peaks (prominence ≥ ``prominence`` of the maximum),
    sorted by angle, as sin²θ, sin²θ / sin²θ₁ (θ₁: first peak) and height; missing peaks are 0;
    plus the number of peaks found. Shape (n, 3 n_peaks + 1)."""
    from scipy.signal import find_peaks

    P = np.asarray(patterns, dtype=float)
    tt = np.asarray(two_theta, dtype=float)
    if tt.size != P.shape[1]:
        raise ValueError(f"two_theta has {tt.size} values, patterns have {P.shape[1]} points")
    s2 = np.sin(np.radians(tt / 2.0)) ** 2
    out = np.zeros((len(P), 3 * n_peaks + 1))
    for i, y in enumerate(P):
        idx, props = find_peaks(y, prominence=prominence * max(float(y.max()), 1e-12))
        out[i, -1] = len(idx)
        if not len(idx):
            continue
        keep = idx[np.argsort(props["prominences"])[::-1][:n_peaks]]
        keep = np.sort(keep)
        k = len(keep)
        out[i, :k] = s2[keep]
        out[i, n_peaks : n_peaks + k] = s2[keep] / s2[keep[0]]
        out[i, 2 * n_peaks : 2 * n_peaks + k] = y[keep]
    return out


# -------------------------------------------------------------------------------- forests
_FORESTS = {
    "random_forest": ("RandomForestClassifier", "RandomForestRegressor"),
    "extra_trees": ("ExtraTreesClassifier", "ExtraTreesRegressor"),
}


class PatternForest(_Base):
    """A random forest or extra-trees on the pattern, on peak features, or both.

    Parameters
    ----------
    estimator: ``"random_forest"`` or ``"extra_trees"``.
    features: ``"pattern"`` (the intensities, optionally ``pool``-ed: the maximum over ``pool``
        neighbouring points), ``"peaks"`` (``peak_features``) or ``"pattern+peaks"``.
    n_estimators, max_features, min_samples_leaf: the forest's.
    n_jobs: threads; random_state: seed.
    """

    def __init__(
        self,
        estimator: str = "random_forest",
        features: str = "pattern",
        pool: int = 2,
        n_estimators: int = 200,
        max_features: Any = "sqrt",
        min_samples_leaf: int = 1,
        n_peaks: int = 20,
        n_jobs: int = 1,
        random_state: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.features = features
        self.pool = pool
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.n_peaks = n_peaks
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _features(self, P: np.ndarray) -> np.ndarray:
        with phase("featurize"):
            parts = []
            if self.features in ("pattern", "pattern+peaks"):
                k = max(1, int(self.pool))
                if k > 1:
                    n = (P.shape[1] // k) * k
                    pooled = P[:, :n].reshape(len(P), -1, k).max(axis=2)
                    if n < P.shape[1]:
                        pooled = np.concatenate([pooled, P[:, n:].max(axis=1, keepdims=True)], axis=1)
                    parts.append(pooled)
                else:
                    parts.append(P)
            if self.features in ("peaks", "pattern+peaks"):
                parts.append(peak_features(P, self.two_theta_, self.n_peaks))
            if not parts:
                raise ValueError(f"features must be 'pattern', 'peaks' or 'pattern+peaks', got {self.features!r}")
            return np.concatenate(parts, axis=1).astype(np.float32)

    def fit(self, X: Any, y: Any, two_theta: Any = None) -> PatternForest:
        import sklearn.ensemble as ens

        from matscibench.sim.xrd import DEFAULT_GRID

        P, y = self._start(X, y)
        if self.estimator not in _FORESTS:
            raise ValueError(f"estimator must be one of {list(_FORESTS)}, got {self.estimator!r}")
        self.two_theta_ = np.asarray(two_theta, dtype=float) if two_theta is not None else DEFAULT_GRID.values()
        if self.features != "pattern" and self.two_theta_.size != P.shape[1]:
            raise ValueError(f"two_theta has {self.two_theta_.size} values but patterns have {P.shape[1]} points")
        F = self._features(P)
        cls = getattr(ens, _FORESTS[self.estimator][0 if self.classification_ else 1])
        self.model_ = cls(
            n_estimators=int(self.n_estimators),
            max_features=self.max_features,
            min_samples_leaf=int(self.min_samples_leaf),
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        )
        with warnings.catch_warnings():  # many space groups with few patterns each is expected here
            warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
            self.model_.fit(F, y if self.classification_ else y.astype(float))
        if self.classification_:
            self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        if not self.classification_:
            raise AttributeError("predict_proba is only defined for classification")
        return self.model_.predict_proba(self._features(self._check(X)))

    def _predict_values(self, X: Any) -> np.ndarray:
        return np.asarray(self.model_.predict(self._features(self._check(X))), dtype=float)


# ------------------------------------------------------------------------------------ CNN
class PatternCNN(_Base):
    """A small 1-D CNN: four convolution blocks (strided first, max-pooling after each), a dense
    layer, and a softmax (classes) or a linear head on standardised targets (lattice).

    Parameters
    ----------
    channels: output channels of the four convolutions; kernel sizes 9, 7, 5, 3.
    hidden: width of the dense layer; dropout: before the head.
    epochs, batch_size, lr, weight_decay: AdamW training (cosine learning-rate decay).
    validation_fraction: share of the training patterns held out to report ``on_epoch`` values
        (stratified for classes); 0 trains on everything and reports nothing.
    shift_augment: random circular shifts of up to this many grid points during training (the
        zero shift an instrument adds); 0 turns it off.
    transform: ``"sqrt"`` (default) or ``"none"``, applied to the intensities.
    stop_at_target: stop once the validation score reaches the task's target.
    n_threads: PyTorch threads (default: ``$OMP_NUM_THREADS``, which the harness sets per job).
    device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
    """

    def __init__(
        self,
        channels: tuple[int, ...] | list[int] = (8, 16, 32, 32),
        hidden: int = 64,
        dropout: float = 0.2,
        epochs: int = 25,
        batch_size: int = 32,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        validation_fraction: float = 0.1,
        shift_augment: int = 1,
        transform: str = "sqrt",
        stop_at_target: bool = False,
        n_threads: int | None = None,
        device: str = "cpu",
        random_state: int | None = None,
    ) -> None:
        require_packages('the 1-D CNN (xrd_cnn)', 'torch')
        self.channels = channels
        self.hidden = hidden
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.shift_augment = shift_augment
        self.transform = transform
        self.stop_at_target = stop_at_target
        self.n_threads = n_threads
        self.device = device
        self.random_state = random_state

    # -------------------------------------------------------------- network
    def _network(self, n_grid: int, n_out: int):
        import torch.nn as nn

        ch = list(self.channels)
        if len(ch) != 4:
            raise ValueError(f"channels must list 4 widths, got {self.channels!r}")
        kernels = (9, 7, 5, 3)
        layers: list = []
        c_in, length = 1, n_grid
        for i, (c, k) in enumerate(zip(ch, kernels)):
            stride = 2 if i == 0 else 1
            layers += [nn.Conv1d(c_in, c, k, stride=stride, padding=k // 2), nn.BatchNorm1d(c), nn.ReLU(), nn.MaxPool1d(2)]
            length = (length + 2 * (k // 2) - k) // stride + 1
            length //= 2
            c_in = c
        layers += [nn.Flatten(), nn.Dropout(self.dropout), nn.Linear(c_in * length, self.hidden), nn.ReLU(),
                   nn.Dropout(self.dropout), nn.Linear(self.hidden, n_out)]
        return nn.Sequential(*layers)

    def _torch(self):
        try:
            import torch
        except ImportError as exc:
            raise ImportError(f"PatternCNN needs PyTorch: pip install 'matscibench[ml]' ({exc})") from exc

        if self.n_threads:
            torch.set_num_threads(int(self.n_threads))
        elif os.environ.get("OMP_NUM_THREADS"):
            torch.set_num_threads(max(1, int(os.environ["OMP_NUM_THREADS"])))
        dev = self.device
        if dev == "auto":
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        return torch, torch.device(dev)

    # -------------------------------------------------------------- training
    @torch_deterministic
    def fit(self, X: Any, y: Any, on_epoch: Any = None, two_theta: Any = None) -> PatternCNN:
        P, y = self._start(X, y)
        torch, dev = self._torch()
        seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        n = len(P)
        if self.classification_:
            self.classes_, yi = np.unique(y, return_inverse=True)
            target = yi.astype(np.int64)
            n_out = len(self.classes_)
        else:
            Y = y.astype(float).reshape(n, -1)
            self.y_mean_, self.y_std_ = Y.mean(axis=0), Y.std(axis=0)
            self.y_std_[self.y_std_ == 0] = 1.0
            target = ((Y - self.y_mean_) / self.y_std_).astype(np.float32)
            self.n_targets_ = Y.shape[1]
            self.y_ndim_ = y.ndim
            n_out = Y.shape[1]
        # validation hold-out (stratified by class where every class has two items)
        val = np.zeros(0, dtype=int)
        if on_epoch is not None and self.validation_fraction > 0 and n >= 20:
            n_val = max(1, int(round(self.validation_fraction * n)))
            if self.classification_:
                per = []
                for c in range(n_out):
                    idx = np.nonzero(target == c)[0]
                    if len(idx) >= 2:
                        m = max(1, int(round(len(idx) * n_val / n)))
                        per.append(rng.choice(idx, size=min(m, len(idx) - 1), replace=False))
                val = np.sort(np.concatenate(per)) if per else val
            else:
                val = np.sort(rng.choice(n, size=n_val, replace=False))
        train = np.setdiff1d(np.arange(n), val)
        net = self._network(P.shape[1], n_out).to(dev)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        steps_per_epoch = max(1, math.ceil(len(train) / self.batch_size))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=int(self.epochs) * steps_per_epoch,
                                                    pct_start=0.25)
        loss_fn = torch.nn.CrossEntropyLoss() if self.classification_ else torch.nn.MSELoss()
        Xt = torch.from_numpy(np.ascontiguousarray(_transform(P, self.transform)[:, None, :]))
        Tt = torch.from_numpy(target)
        Xv = Xt[val].to(dev) if len(val) else None
        shift = int(self.shift_augment)
        self.model_ = net
        for epoch in range(1, int(self.epochs) + 1):
            net.train()
            order = train[rng.permutation(len(train))]
            for b in range(0, len(order), self.batch_size):
                idx = order[b : b + self.batch_size]
                if len(idx) < 2:  # batch norm needs two items
                    continue
                xb = Xt[idx]
                if shift:
                    xb = torch.roll(xb, int(rng.integers(-shift, shift + 1)), dims=2)
                xb, tb = xb.to(dev), Tt[idx].to(dev)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(xb), tb)
                loss.backward()
                opt.step()
                sched.step()
            if Xv is not None:
                pred = self._forward(Xv)
                if self.classification_:
                    value = on_epoch.score(np.asarray(y)[val], self.classes_[np.argmax(pred, axis=1)])
                else:
                    value = on_epoch.score(np.asarray(y, dtype=float)[val], self._unscale(pred))
                reached = on_epoch(epoch, value)
                if reached and self.stop_at_target:
                    break
        net.eval()
        return self

    def _forward(self, Xt) -> np.ndarray:
        torch = __import__("torch")
        self.model_.eval()
        dev = next(self.model_.parameters()).device
        outs = []
        with torch.no_grad():
            for b in range(0, len(Xt), 256):
                o = self.model_(Xt[b : b + 256].to(dev))
                if self.classification_:
                    o = torch.softmax(o, dim=1)
                outs.append(o.cpu().numpy())
        return np.concatenate(outs, axis=0) if outs else np.zeros((0, 1))

    def _unscale(self, out: np.ndarray) -> np.ndarray:
        Y = out.astype(float) * self.y_std_ + self.y_mean_
        return Y if self.y_ndim_ == 2 else Y[:, 0]

    def _input(self, X: Any):
        import torch

        P = _transform(self._check(X), self.transform)
        return torch.from_numpy(np.ascontiguousarray(P[:, None, :]))

    @torch_deterministic
    def predict_proba(self, X: Any) -> np.ndarray:
        if not self.classification_:
            raise AttributeError("predict_proba is only defined for classification")
        self._torch()
        return self._forward(self._input(X)).astype(float)

    @torch_deterministic
    def _predict_values(self, X: Any) -> np.ndarray:
        self._torch()
        return self._unscale(self._forward(self._input(X)))
