"""``SchNetPotential`` (``schnet_potential``): SchNet (Schütt et al., J. Chem. Phys. 148, 241722 (2018))
from PyTorch Geometric's interaction blocks; energy = Σ atoms + per-element reference energies
fitted by least squares; forces = -∂E/∂R and stress = (1/V) ∂E/∂ε by autograd; periodic
graphs from vesin, distances recomputed in torch from positions + shifts·cell.

A model is an ASE ``Calculator`` with ``fit(list[Atoms], on_epoch=None)`` reading
``atoms.info["energy"]`` (eV), ``atoms.arrays["forces"]`` (eV/Å) and, on periodic frames,
``atoms.info["stress"]`` (eV/Å³).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError, all_changes
from ase.data import chemical_symbols

from matscibench.families.potentials.models.common import VOIGT, TrainablePotential, frame_labels, neighbour_pairs, voigt
from matscibench.models.base import deterministic_torch, require_packages

__all__ = ["SchNetPotential", "schnet_graph"]


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
    # (numpy arrays of the right dtype become tensors without a copy or a ``.to``: a few µs a
    # call count at 8 atoms, where vesin itself takes ~50 µs)
    npd = {torch.float32: np.float32, torch.float64: np.float64}.get(dtype)
    if npd is None:
        raise ValueError(f"schnet_graph: dtype must be torch.float32 or torch.float64, got {dtype}")
    ji = np.empty((2, len(i)), dtype=np.int64)
    ji[0], ji[1] = j, i
    return {
        "z": torch.from_numpy(np.asarray(atoms.numbers, dtype=np.int64)),
        "pos": torch.from_numpy(np.ascontiguousarray(atoms.positions, dtype=npd)),
        "edge_index": torch.from_numpy(ji),
        "shift": torch.from_numpy(S.astype(npd)),
        "cell": torch.from_numpy(np.ascontiguousarray(cell, dtype=npd)),
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


class SchNetPotential(TrainablePotential):
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
            res["stress"] = voigt(stress.detach().double().numpy()[0])
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
        labels = [frame_labels(fr) for fr in frames]
        net, scale = self._init_network(frames, labels, seed, dt)
        graphs = self._training_graphs(frames, labels, dt)
        self._remove_mean_energy(net, graphs, scale)
        tr_idx, val_idx = self._split(len(frames), rng)
        val_batches = [self._collate([graphs[k] for k in val_idx[a : a + 16]]) for a in range(0, len(val_idx), 16)]
        f_val = np.concatenate([graphs[k]["forces"].double().numpy().ravel() for k in val_idx])

        opt = torch.optim.Adam(net.parameters(), lr=float(self.learning_rate))
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=float(self.lr_decay))
        bs = max(1, int(self.batch_size))
        best = (math.inf, 0, None)
        self.history_ = []
        voigt_idx = torch.tensor([a * 3 + b for a, b in VOIGT])
        for epoch in range(1, int(self.max_epochs) + 1):
            net.train()
            order = tr_idx[rng.permutation(len(tr_idx))]
            for a in range(0, len(order), bs):
                self._train_step([graphs[k] for k in order[a : a + bs]], opt, dt, voigt_idx)
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

    def _init_network(self, frames: list[Atoms], labels: list, seed: int, dt: Any) -> tuple[Any, float]:
        """The untrained network (weights from ``seed``) and its energy scale (the RMS force
        component, eV/Å); sets ``elements_``, the per-element reference energies ``e0_`` (least
        squares on composition) and ``module_``."""
        import torch

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
        return net, scale

    def _training_graphs(self, frames: list[Atoms], labels: list, dt: Any) -> list[dict[str, Any]]:
        """The graph of each frame with its labels (energy less the element references, float64)."""
        import torch

        graphs = [self._graph(fr) for fr in frames]
        for g, (e, f, s), fr in zip(graphs, labels, frames):
            g["energy"] = torch.tensor(e - float(self.e0_[fr.numbers].sum()), dtype=torch.float64)
            g["forces"] = torch.from_numpy(f).to(dt)
            g["n"] = len(fr)
            g["stress"] = torch.from_numpy(s).to(dt) if s is not None else None
            g["vol_per_atom"] = fr.get_volume() / len(fr) if fr.pbc.all() else 0.0
        return graphs

    def _remove_mean_energy(self, net: Any, graphs: list[dict[str, Any]], scale: float) -> None:
        """Start with no mean energy offset: the untrained network's per-atom energies, averaged
        over (up to 32) training frames, are taken out through the last bias."""
        import torch

        with torch.no_grad():
            probe = self._collate(graphs[: min(32, len(graphs))])
            shift_vec = torch.bmm(probe["shift"][:, None, :], probe["cell"][probe["ebatch"]]).squeeze(1)
            e_init = net(probe["z"], probe["pos"], probe["edge_index"], shift_vec)
            net.lin2.bias -= float(e_init.mean()) / scale

    def _split(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(training, validation) frame indices: ``validation_fraction`` of a seeded permutation
        (at least one frame from 5 frames on); with no validation frames, the training ones."""
        perm = rng.permutation(n)
        n_val = int(round(float(self.validation_fraction) * n)) if n >= 5 else 0
        if self.validation_fraction and n >= 5:
            n_val = max(1, n_val)
        val_idx, tr_idx = perm[:n_val], perm[n_val:]
        if len(tr_idx) == 0:
            tr_idx = perm
        val_idx = val_idx if len(val_idx) else tr_idx
        return tr_idx, val_idx

    def _train_step(self, chunk: list[dict[str, Any]], opt: Any, dt: Any, voigt_idx: Any) -> None:
        """One Adam step on a batch: weighted squared errors of the energy per atom, the force
        components and (when every frame of the batch has one) the stress times volume per atom
        (``voigt_idx``: the Voigt components' positions in a flattened 3x3 tensor)."""
        import torch

        we, wf, ws = float(self.energy_weight), float(self.force_weight), float(self.stress_weight)
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
            s_pred = stress.reshape(len(chunk), 9)[:, voigt_idx]
            loss = loss + ws * (((s_pred - s_true) * k) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
