"""Models of the phonon family: structure -> DOS, the direct route of the phonon task.

Both take pymatgen ``Structure`` inputs and predict the phonon DOS on the task's frequency grid
(``fit(structures, Y)`` with ``Y`` of shape (n, n_grid), unit area, ``predict`` returns the same
shape). They declare ``input_types = ("phonon",)``: property tasks skip them, the phonon task runs
them. The potential route needs no model here: any ASE calculator runs through phonopy.

* ``DosRegressor``: the engine's composition and structure descriptors (``magpie+sitestats``)
  and a scikit-learn multi-output regressor onto the DOS, optionally on a reduced DOS basis
  (principal components of the training curves); predictions are clipped at zero and normalised
  to unit area. ``estimator``: ``extra_trees``, ``knn`` (distance-weighted), ``ridge`` or
  ``mean`` (the training mean DOS: the floor any model must beat).
* ``E3nnDos``: an E(3)-equivariant graph network after Chen et al., "Direct prediction of
  phonon density of states with Euclidean neural networks", Adv. Sci. 8, 2004214 (2021): atoms
  are nodes (one-hot element and atomic mass), edges join atoms closer than ``r_max`` Å
  (periodic images included); each interaction layer sends messages that are tensor products of
  the neighbour's features with spherical harmonics of the edge direction, weighted by a learned
  function of the edge length (e3nn), followed by gated non-linearities; a per-atom read-out of
  ``n_grid`` scalars is averaged over the atoms (the DOS per atom), passed through softplus and
  normalised. Trained with Adam on the MSE; after each epoch it reports the validation DOS MSE
  through ``on_epoch`` and keeps the best weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sklearn.base import BaseEstimator

from matscibench.cost.meters import phase
from matscibench.models.base import require_packages, torch_deterministic

__all__ = ["DosRegressor", "E3nnDos"]


def _unit_area(Y: np.ndarray, freqs: np.ndarray | None) -> np.ndarray:
    Y = np.clip(np.asarray(Y, dtype=float), 0.0, None)
    if freqs is not None:
        from matscibench.sim.phonon_dos import normalize_dos

        return normalize_dos(freqs, Y)
    s = Y.sum(axis=1, keepdims=True)
    return Y / np.where(s > 0, s, 1.0)


def _check_xy(X: Sequence[Any], Y: Any) -> np.ndarray:
    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2:
        raise ValueError(f"Y must have shape (n_structures, n_grid); got {Y.shape} (is this a phonon DOS task?)")
    if len(X) != len(Y):
        raise ValueError(f"{len(X)} structures but {len(Y)} DOS curves")
    return Y


class DosRegressor(BaseEstimator):
    """Descriptors + a scikit-learn regressor onto the DOS grid (or its principal components).

    Parameters
    ----------
    featurizer: a featuriser name (``"magpie+sitestats"``), import path or object.
    estimator: ``"extra_trees"``, ``"knn"``, ``"ridge"``, ``"mean"``, or an unfitted estimator.
    estimator_params: overrides of the estimator's parameters.
    n_components: regress onto this many principal components of the training DOS (None: the
        whole grid).
    n_jobs, random_state: as in scikit-learn.
    """

    input_types = ("phonon",)

    def __init__(
        self,
        featurizer: Any = "magpie+sitestats",
        estimator: Any = "extra_trees",
        estimator_params: dict[str, Any] | None = None,
        n_components: int | None = 16,
        n_jobs: int = 1,
        random_state: int | None = None,
    ) -> None:
        self.featurizer = featurizer
        self.estimator = estimator
        self.estimator_params = estimator_params
        self.n_components = n_components
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _make_estimator(self) -> Any:
        from sklearn.base import clone
        from sklearn.dummy import DummyRegressor
        from sklearn.ensemble import ExtraTreesRegressor
        from sklearn.linear_model import Ridge
        from sklearn.neighbors import KNeighborsRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        p = dict(self.estimator_params or {})
        if not isinstance(self.estimator, str):
            est = clone(self.estimator)
            return est.set_params(**p) if p else est
        if self.estimator == "extra_trees":
            return ExtraTreesRegressor(**{"n_estimators": 200, "min_samples_leaf": 1, "max_features": 0.5,
                                          "n_jobs": self.n_jobs, "random_state": self.random_state, **p})
        if self.estimator == "knn":
            return make_pipeline(StandardScaler(), KNeighborsRegressor(**{"n_neighbors": 5, "weights": "distance", **p}))
        if self.estimator == "ridge":
            return make_pipeline(StandardScaler(), Ridge(**{"alpha": 10.0, **p}))
        if self.estimator == "mean":
            return DummyRegressor(strategy="mean")
        raise ValueError(f"unknown estimator {self.estimator!r}; use extra_trees, knn, ridge, mean or an estimator object")

    def _features(self, X: Sequence[Any]) -> np.ndarray:
        with phase("featurize"):
            return np.asarray(self.featurizer_.transform(X), dtype=float)

    def fit(self, X: Sequence[Any], Y: Any, frequencies: Any = None) -> DosRegressor:
        from sklearn.decomposition import PCA
        from sklearn.impute import SimpleImputer

        from matscibench.featurizers import get_featurizer

        Y = _check_xy(X, Y)
        self.frequencies_ = None if frequencies is None else np.asarray(frequencies, dtype=float)
        Y = _unit_area(Y, self.frequencies_)
        self.featurizer_ = get_featurizer(self.featurizer)
        self.featurizer_.fit(X, None)
        F = self._features(X)
        self.imputer_ = SimpleImputer(strategy="median", keep_empty_features=True)
        F = self.imputer_.fit_transform(F)
        k = self.n_components
        if k is not None and self.estimator != "mean" and 0 < int(k) < min(Y.shape):
            self.pca_ = PCA(n_components=int(k), random_state=self.random_state)
            Z = self.pca_.fit_transform(Y)
        else:
            self.pca_ = None
            Z = Y
        self.estimator_ = self._make_estimator()
        self.estimator_.fit(F, Z)
        self.n_grid_ = Y.shape[1]
        return self

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        F = self.imputer_.transform(self._features(X))
        Z = np.asarray(self.estimator_.predict(F), dtype=float)
        if Z.ndim == 1:
            Z = Z[:, None]
        Y = self.pca_.inverse_transform(Z) if self.pca_ is not None else Z
        return _unit_area(Y, self.frequencies_)


# ============================================================================ e3nn graph network
def _graph(structure: Any, r_max: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(atomic numbers, edge source, edge target, edge vectors Å) with periodic images (vesin)."""
    import vesin

    pos = np.asarray(structure.cart_coords, dtype=float)
    cell = np.asarray(structure.lattice.matrix, dtype=float)
    i, j, S = vesin.NeighborList(cutoff=float(r_max), full_list=True).compute(points=pos, box=cell, periodic=True, quantities="ijS")
    i, j, S = np.asarray(i, np.int64), np.asarray(j, np.int64), np.asarray(S, float)
    vec = pos[j] - pos[i] + S @ cell
    return np.asarray(structure.atomic_numbers, np.int64), i, j, vec


class E3nnDos(BaseEstimator):
    """E(3)-equivariant message-passing network from structure to phonon DOS (Chen et al. 2021 style).

    Parameters
    ----------
    r_max: neighbour cut-off (Å). n_basis: radial basis functions. mul: channels per irrep
    (``mul x 0e + mul/2 x 1o + mul/2 x 1e`` hidden features). n_layers: interaction layers.
    epochs, batch_size, lr, weight_decay: Adam training. validation_fraction: structures held
    out for ``on_epoch`` and the best-epoch choice, unless the task gives its own validation set
    (``fit(..., validation_data=(structures, Y))``).
    random_state: seed of the initialisation, the split and the batches.
    """

    input_types = ("phonon",)

    def __init__(
        self,
        r_max: float = 4.5,
        n_basis: int = 8,
        mul: int = 16,
        n_layers: int = 2,
        epochs: int = 60,
        batch_size: int = 16,
        lr: float = 5e-3,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        random_state: int | None = None,
    ) -> None:
        require_packages('the e3nn DOS network', 'torch', 'e3nn')
        self.r_max = r_max
        self.n_basis = n_basis
        self.mul = mul
        self.n_layers = n_layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    # ------------------------------------------------------------------ data
    def _graphs(self, X: Sequence[Any]) -> list[tuple]:
        with phase("featurize"):
            return [_graph(s, self.r_max) for s in X]

    def _batch(self, graphs: list[tuple], idx: Sequence[int]):
        import torch

        zs, src, dst, vecs, owner = [], [], [], [], []
        off = 0
        for b, k in enumerate(idx):
            z, i, j, v = graphs[k]
            zs.append(z)
            src.append(j + off)  # messages flow from neighbour j to centre i
            dst.append(i + off)
            vecs.append(v)
            owner.append(np.full(len(z), b))
            off += len(z)
        z = torch.as_tensor(np.concatenate(zs))
        return (
            z,
            torch.as_tensor(np.concatenate(src)),
            torch.as_tensor(np.concatenate(dst)),
            torch.as_tensor(np.concatenate(vecs), dtype=torch.float32),
            torch.as_tensor(np.concatenate(owner)),
            len(idx),
        )

    # ------------------------------------------------------------------ training
    @torch_deterministic
    def fit(self, X: Sequence[Any], Y: Any, on_epoch: Any = None, frequencies: Any = None,
            validation_data: tuple[Sequence[Any], Any] | None = None) -> E3nnDos:
        import torch

        Y = _check_xy(X, Y)
        self.frequencies_ = None if frequencies is None else np.asarray(frequencies, dtype=float)
        Y = _unit_area(Y, self.frequencies_)
        seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        graphs = self._graphs(X)
        n = len(graphs)
        if validation_data is not None and len(validation_data[0]):
            # the task's validation structures, appended after the training ones
            Xv, Yv = validation_data
            Yv = _unit_area(_check_xy(Xv, Yv), self.frequencies_)
            graphs = graphs + self._graphs(Xv)
            Y = np.concatenate([Y, Yv])
            tr, val = rng.permutation(n), np.arange(n, n + len(Yv))
            n_val = len(val)
        else:
            n_val = int(round(self.validation_fraction * n)) if n >= 10 else 0
            perm = rng.permutation(n)
            val, tr = perm[:n_val], perm[n_val:]
        # targets scaled to unit mean over the grid, as the network's output
        Yt = torch.as_tensor(Y / np.maximum(Y.mean(axis=1, keepdims=True), 1e-12), dtype=torch.float32)
        avg_neigh = float(np.mean([len(g[1]) / max(1, len(g[0])) for g in graphs[:n]]))
        self.net_ = _E3nnDosNet(Y.shape[1], self.r_max, self.n_basis, self.mul, self.n_layers, avg_neigh)
        opt = torch.optim.Adam(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, int(self.epochs)))
        val_batch = self._batch(graphs, val) if n_val else None
        best, best_state = math.inf, None
        self.history_ = []
        for epoch in range(1, int(self.epochs) + 1):
            self.net_.train()
            order = rng.permutation(tr)
            for a in range(0, len(order), int(self.batch_size)):
                idx = order[a : a + int(self.batch_size)]
                out = self.net_(*self._batch(graphs, idx))
                loss = torch.mean((out - Yt[idx]) ** 2)
                opt.zero_grad()
                loss.backward()
                opt.step()
            sched.step()
            if val_batch is not None:
                self.net_.eval()
                with torch.no_grad():
                    pv = self.net_(*val_batch).numpy()
                pv = _unit_area(pv, self.frequencies_)
                if on_epoch is not None:
                    v = float(on_epoch.score(Y[val], pv))
                    on_epoch(epoch, v)
                else:
                    v = float(np.mean((pv - Y[val]) ** 2))
                self.history_.append(v)
                if v < best:
                    best = v
                    best_state = {k: t.detach().clone() for k, t in self.net_.state_dict().items()}
        if best_state is not None:
            self.net_.load_state_dict(best_state)
        self.net_.eval()
        return self

    @torch_deterministic
    def predict(self, X: Sequence[Any]) -> np.ndarray:
        import torch

        graphs = self._graphs(X)
        out = []
        with torch.no_grad():
            for a in range(0, len(graphs), 64):
                idx = list(range(a, min(len(graphs), a + 64)))
                out.append(self.net_(*self._batch(graphs, idx)).numpy())
        Y = np.concatenate(out) if out else np.empty((0, 0))
        return _unit_area(Y, self.frequencies_)


def _E3nnDosNet(n_out: int, r_max: float, n_basis: int, mul: int, n_layers: int, avg_neigh: float):
    """Build the network (torch and e3nn are imported only when a model is trained)."""
    import torch
    from e3nn import o3
    from e3nn.math import soft_one_hot_linspace
    from e3nn.nn import FullyConnectedNet, Gate
    from torch import nn

    from ase.data import atomic_masses

    n_species = 95
    masses = torch.as_tensor(np.asarray(atomic_masses[:n_species], dtype=np.float32))
    irreps_sh = o3.Irreps.spherical_harmonics(1)
    half = max(1, mul // 2)
    irreps_hidden = o3.Irreps(f"{mul}x0e + {half}x1o + {half}x1e")

    def depthwise_tp(irreps_in: o3.Irreps, irreps_target: o3.Irreps):
        """One weight per channel and coupling path (weights come from the edge length)."""
        mids, instr = [], []
        for i, (m, ir_in) in enumerate(irreps_in):
            for j, (_, ir_sh) in enumerate(irreps_sh):
                for ir_out in ir_in * ir_sh:
                    if ir_out in irreps_target:
                        instr.append((i, j, len(mids), "uvu", True))
                        mids.append((m, ir_out))
        irreps_mid = o3.Irreps(mids)
        srt = irreps_mid.sort()
        instr = [(i, j, srt.p[k], mode, w) for i, j, k, mode, w in instr]
        tp = o3.TensorProduct(irreps_in, irreps_sh, srt.irreps, instr, internal_weights=False, shared_weights=False)
        return tp, srt.irreps.simplify()

    class Interaction(nn.Module):
        def __init__(self, irreps_in: o3.Irreps, last: bool) -> None:
            super().__init__()
            scalars = o3.Irreps(f"{mul}x0e")
            gated = o3.Irreps("") if last else o3.Irreps(f"{half}x1o + {half}x1e")
            self.tp, irreps_mid = depthwise_tp(irreps_in, irreps_hidden)
            self.fc = FullyConnectedNet([n_basis, 32, self.tp.weight_numel], torch.nn.functional.silu)
            if last:
                self.gate = None
                irreps_gate_in = scalars
            else:
                gates = o3.Irreps(f"{gated.num_irreps}x0e")
                self.gate = Gate(scalars, [torch.nn.functional.silu], gates, [torch.sigmoid], gated)
                irreps_gate_in = self.gate.irreps_in
            self.lin_msg = o3.Linear(irreps_mid, irreps_gate_in)
            self.lin_self = o3.Linear(irreps_in, irreps_gate_in)
            self.irreps_out = scalars if last else self.gate.irreps_out

        def forward(self, h, src, dst, sh, emb):
            msg = self.tp(h[src], sh, self.fc(emb))
            agg = torch.zeros(h.shape[0], msg.shape[1], dtype=msg.dtype).index_add_(0, dst, msg) / math.sqrt(avg_neigh)
            x = self.lin_msg(agg) + self.lin_self(h)
            return torch.nn.functional.silu(x) if self.gate is None else self.gate(x)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Linear(n_species + 1, mul)
            layers = []
            irreps = o3.Irreps(f"{mul}x0e")
            for k in range(n_layers):
                layer = Interaction(irreps, last=(k == n_layers - 1))
                layers.append(layer)
                irreps = layer.irreps_out
            self.layers = nn.ModuleList(layers)
            self.readout = nn.Sequential(nn.Linear(mul, 64), nn.SiLU(), nn.Linear(64, n_out))

        def forward(self, z, src, dst, vec, owner, n_graphs):
            onehot = torch.nn.functional.one_hot(z.clamp(max=n_species - 1), n_species).float()
            x = torch.cat([onehot, (masses[z.clamp(max=n_species - 1)] / 100.0)[:, None]], dim=1)
            h = self.embed(x)
            r = vec.norm(dim=1)
            sh = o3.spherical_harmonics(irreps_sh, vec, normalize=True, normalization="component")
            emb = soft_one_hot_linspace(r, 0.0, r_max, n_basis, basis="smooth_finite", cutoff=True) * math.sqrt(n_basis)
            for layer in self.layers:
                h = layer(h, src, dst, sh, emb)
            per_atom = self.readout(h)
            pooled = torch.zeros(n_graphs, per_atom.shape[1]).index_add_(0, owner, per_atom)
            counts = torch.zeros(n_graphs).index_add_(0, owner, torch.ones(len(owner)))
            g = torch.nn.functional.softplus(pooled / counts[:, None])
            return g / g.mean(dim=1, keepdim=True)  # unit mean = unit area x grid span

    return Net()
