"""The training loop every crystal graph network of the family shares (``CrystalGraphModel``).

Contract (the crystal-property family's): scikit-learn style ``fit(X, y, on_epoch=None,
validation_data=None)``, ``predict(X)``, ``predict_proba(X)`` for classification, hyper-parameters
in ``__init__`` only, the job's seed in ``random_state``. ``X`` is a list of pymatgen
``Structure`` or ASE ``Atoms``; ``y`` floats (regression) or booleans (classification).

Training, the same for every network:

* graphs from ``featurizers.crystal_graph`` (cut-off, neighbour count and line graph set by the
  network), built in the ``featurize`` phase; the training (and validation) graphs go through the
  on-disk ``GraphCache`` when ``cache_graphs`` is set, so the five folds of a task build them once.
  ``predict`` always builds its graphs itself: inference cost includes the graph step.
* regression targets standardised with the training mean and standard deviation, MSE loss (``loss
  = "l1"`` for MAE); classification: one logit, binary cross-entropy, ``predict_proba`` = sigmoid.
* AdamW with a cosine learning-rate decay over ``epochs`` (to 5 % of ``lr``), mini-batches of
  ``batch_size`` crystals in a seeded order; a budget in epochs, never in wall time.
* ``validation_fraction`` of the training crystals (or the task's ``validation_data``) scored
  after every epoch: ``on_epoch(epoch, score)`` in the task's metric (probabilities for ROC-AUC),
  which the harness turns into time to target. The weights of the best epoch by validation MAE
  (regression) or validation log-loss (classification) are kept at the end; ``patience`` stops
  training after that many epochs without improvement (None: all ``epochs`` run);
  ``stop_at_target`` stops once ``on_epoch`` reports the task's target reached.
* seeded (``random_state`` seeds the weights, the split and the batch order) and run inside
  ``deterministic_torch()``: the same seed gives the same predictions on CPU.
* a loss that turns NaN or infinite stops training with ``FloatingPointError`` naming the epoch
  and batch; non-finite predictions are refused by the harness (``check_predictions``), which
  fails the job with the count and the first offending crystal.
* ``device="auto"`` (default): CUDA when present, else CPU; ``"cpu"`` or ``"cuda:0"`` to choose.

Learned state: ``net_``, ``classification_``, ``classes_`` (classification), ``shift_``,
``scale_`` (regression), ``history_`` [(epoch, validation MAE or log-loss, task score)],
``best_epoch_``, ``epochs_run_``, ``graph_cache_hits_`` / ``graphs_built_``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from matscibench.cost.meters import phase
from matscibench.featurizers.crystal_graph import (
    CrystalGraph,
    GraphCache,
    crystal_graphs,
)
from matscibench.models.base import (
    EpochCallback,
    is_classification_target,
    torch_deterministic,
)

__all__ = ["COMMON_PARAMS", "CrystalGraphModel", "collate"]

#: the trainer's hyper-parameters (every network's ``__init__`` takes them, after its own)
COMMON_PARAMS = ("epochs", "batch_size", "lr", "weight_decay", "loss", "validation_fraction", "patience",
                 "stop_at_target", "cache_graphs", "device", "random_state")


def collate(graphs: Sequence[CrystalGraph], device: Any, line_graph: bool = False) -> dict[str, Any]:
    """A batch of graphs as one disconnected graph (torch tensors on ``device``).

    Keys: ``z`` (atoms), ``edge_index`` (2, E) offset by each graph's first atom, ``edge_dist``
    (E,), ``edge_vec`` (E, 3), ``batch`` (graph of each atom), ``edge_batch`` (graph of each
    edge), ``n_graphs``; with ``line_graph``: ``line_index`` (2, T) offset by each graph's first
    edge and ``angle_cos`` (T,).
    """
    import torch

    n_at = np.array([g.n_atoms for g in graphs], dtype=np.int64)
    n_e = np.array([g.n_edges for g in graphs], dtype=np.int64)
    at_off = np.cumsum(n_at) - n_at
    e_off = np.cumsum(n_e) - n_e
    G = len(graphs)
    out: dict[str, Any] = {
        "z": np.concatenate([g.z for g in graphs]),
        "edge_index": np.concatenate([g.edge_index + o for g, o in zip(graphs, at_off)], axis=1),
        "edge_dist": np.concatenate([g.edge_dist for g in graphs]),
        "edge_vec": np.concatenate([g.edge_vec for g in graphs]),
        "batch": np.repeat(np.arange(G, dtype=np.int64), n_at),
        "edge_batch": np.repeat(np.arange(G, dtype=np.int64), n_e),
    }
    if line_graph:
        out["line_index"] = np.concatenate([g.line_index + o for g, o in zip(graphs, e_off)], axis=1)
        out["angle_cos"] = np.concatenate([g.angle_cos for g in graphs])
    b = {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in out.items()}
    b["n_graphs"] = G
    return b


class CrystalGraphModel(BaseEstimator):
    """Base of the crystal graph networks: the shared trainer (see the module docstring).

    Subclasses set ``line_graph`` (class attribute: whether the network reads bond angles), keep
    ``cutoff`` and ``max_neighbors`` among their parameters and implement ``_build(n_out)``,
    returning a ``torch.nn.Module`` whose ``forward(batch)`` maps a ``collate`` batch to one value
    per graph (shape (n_graphs,)). Adapters of other packages override ``_graphs`` (their own
    graph format), ``_collate`` and ``_forward``; the training loop stays this one.
    """

    input_types = ("structure",)
    line_graph = False
    #: the model's name in messages
    label = "crystal graph network"

    # -- parameters
    def _set_params_from(self, values: dict[str, Any]) -> None:
        for k, v in values.items():
            if k not in ("self", "__class__"):
                setattr(self, k, v)

    def _build(self, n_out: int):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- data
    def _graphs(self, X: Sequence[Any], cache: bool) -> list[CrystalGraph]:
        k = None if self.max_neighbors is None else int(self.max_neighbors)
        if cache:
            gc = GraphCache(float(self.cutoff), k, self.line_graph)
            graphs = gc.get(X)
            self.graph_cache_hits_, self.graphs_built_ = gc.hits, gc.built
            return graphs
        return crystal_graphs(X, float(self.cutoff), k, self.line_graph)

    def _collate(self, graphs: Sequence[Any]) -> Any:
        """A training or inference batch of what ``_graphs`` returned (on ``device_``)."""
        return collate(graphs, self.device_, self.line_graph)

    def _forward(self, batch: Any):
        """One value per graph of the batch (a tensor of shape (n_graphs,))."""
        return self.net_(batch)

    def _device(self):
        import torch

        if self.device in (None, "auto"):
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def _raw(self, graphs: Sequence[CrystalGraph], batch_size: int = 256) -> np.ndarray:
        """The network's output (standardised units / logits) for each graph."""
        import torch

        out = []
        self.net_.eval()
        with torch.no_grad():
            for s in range(0, len(graphs), batch_size):
                b = self._collate(graphs[s: s + batch_size])
                out.append(self._forward(b).view(-1).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def _output(self, raw: np.ndarray) -> np.ndarray:
        """Regression: the target in its unit; classification: P(True)."""
        if self.classification_:
            return 1.0 / (1.0 + np.exp(-raw))
        return self.shift_ + self.scale_ * raw

    # -- training
    @torch_deterministic
    def fit(self, X: Sequence[Any], y: Any, on_epoch: EpochCallback | None = None,
            validation_data: tuple[Sequence[Any], Any] | None = None) -> CrystalGraphModel:
        """Train for ``epochs`` epochs (fewer with ``patience`` or ``stop_at_target``); epochs are
        scored on ``validation_data`` = (structures, targets) when the task fixes one, else on a
        held-out ``validation_fraction`` of the training crystals."""
        import torch

        y = np.asarray(y)
        if len(X) != len(y):
            raise ValueError(f"{self.label}: {len(X)} structures but {len(y)} targets")
        if len(X) == 0:
            raise ValueError(f"{self.label}: no training structures")
        if self.loss not in ("mse", "l1"):
            raise ValueError(f"{self.label}: loss must be 'mse' or 'l1', got {self.loss!r}")
        self.classification_ = is_classification_target(y)
        y = y.astype(float)
        seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        self.device_ = self._device()
        n = len(y)
        X = list(X)
        if validation_data is not None and len(validation_data[0]):
            X_va, y_va = list(validation_data[0]), np.asarray(validation_data[1]).astype(float)
            tr = np.arange(n)
            va = np.arange(n, n + len(X_va))
            X, y = X + X_va, np.concatenate([y, y_va])
        else:
            n_val = round(self.validation_fraction * n) if n >= 10 else 0
            perm = rng.permutation(n)
            va, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        with phase("featurize"):
            graphs = self._graphs(X, bool(self.cache_graphs))
        if self.classification_:
            self.classes_ = np.array([False, True])
            self.shift_, self.scale_ = 0.0, 1.0
        else:
            self.shift_ = float(y[tr].mean())
            self.scale_ = float(y[tr].std()) or 1.0
        target = torch.as_tensor((y - self.shift_) / self.scale_, dtype=torch.float32)
        self.net_ = self._build(1).to(self.device_)
        opt = torch.optim.AdamW(self.net_.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
        n_batches = max(1, math.ceil(len(tr) / int(self.batch_size)))
        total = max(1, int(self.epochs) * n_batches)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
        if self.classification_:
            loss_fn = torch.nn.functional.binary_cross_entropy_with_logits
        else:
            loss_fn = torch.nn.functional.l1_loss if self.loss == "l1" else torch.nn.functional.mse_loss
        g_va = [graphs[i] for i in va]
        best, best_state, since_best = math.inf, None, 0
        self.history_: list[tuple[int, float, float]] = []
        self.best_epoch_ = 0
        epoch = 0
        for epoch in range(1, int(self.epochs) + 1):
            self.net_.train()
            order = tr[rng.permutation(len(tr))]
            # near-equal batches (never a last batch of one crystal, which batch norm refuses)
            for k, idx in enumerate(np.array_split(order, n_batches)):
                b = self._collate([graphs[i] for i in idx])
                pred = self._forward(b).view(-1)
                loss = loss_fn(pred, target[idx].to(self.device_))
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"{self.label}: the training loss became {float(loss.detach())} at epoch {epoch}, batch {k + 1} "
                        f"(learning rate {float(self.lr):g}); lower lr or check the targets for NaN/inf")
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
            if len(va) == 0:
                continue
            out_va = self._output(self._raw(g_va))
            if self.classification_:
                p = np.clip(out_va, 1e-7, 1 - 1e-7)
                sel = float(-np.mean(y[va] * np.log(p) + (1 - y[va]) * np.log(1 - p)))
            else:
                sel = float(np.mean(np.abs(out_va - y[va])))
            if not math.isfinite(sel):
                raise FloatingPointError(f"{self.label}: the validation predictions at epoch {epoch} are not finite")
            score = on_epoch.score(y[va].astype(bool) if self.classification_ else y[va], out_va) if on_epoch else sel
            self.history_.append((epoch, sel, score))
            if sel < best:
                best, since_best, self.best_epoch_ = sel, 0, epoch
                best_state = copy.deepcopy(self.net_.state_dict())
            else:
                since_best += 1
            reached = on_epoch(epoch, score) if on_epoch is not None else False
            if reached and self.stop_at_target:
                break
            if self.patience is not None and since_best >= int(self.patience):
                break
        if best_state is not None:
            self.net_.load_state_dict(best_state)
        else:
            self.best_epoch_ = epoch
        self.epochs_run_ = epoch
        return self

    # -- inference
    @torch_deterministic
    def _predict_output(self, X: Sequence[Any]) -> np.ndarray:
        if not hasattr(self, "net_"):
            raise RuntimeError(f"{self.label} is not fitted; call fit(structures, y) first")
        if getattr(self, "device_", None) is None:  # unpickled: where the weights are
            self.device_ = next(self.net_.parameters()).device
        with phase("featurize"):
            graphs = self._graphs(list(X), cache=False)
        return self._output(self._raw(graphs))

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        out = self._predict_output(X)
        if self.classification_:
            return out > 0.5
        return out

    def predict_proba(self, X: Sequence[Any]) -> np.ndarray:
        if not getattr(self, "classification_", False):
            raise AttributeError("predict_proba is only defined for classification")
        p = self._predict_output(X)
        return np.stack([1.0 - p, p], axis=1)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        # a CUDA device does not exist everywhere the model is unpickled; predict re-decides
        state.pop("device_", None)
        return state
