"""The networks (torch modules) behind ``cgcnn``, ``megnet``, ``alignn`` and ``m3gnet_property``.

Each ``forward(batch)`` takes a ``graphnets.base.collate`` batch and returns one value per graph.
Message passing uses PyTorch Geometric (``CGConv``, ``Set2Set``, ``global_mean_pool``) and its
``scatter``; the layers without a PyG counterpart (ALIGNN's edge-gated convolution, MEGNet's
block, the three-body interaction) are written here from their papers' equations, cited where
they are defined.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch_geometric.nn import CGConv, global_mean_pool
from torch_geometric.nn.aggr import Set2Set
from torch_geometric.utils import scatter

__all__ = [
    "ALIGNNNet",
    "CGCNNNet",
    "EdgeGatedGraphConv",
    "GaussianBasis",
    "MEGNetNet",
    "SoftPlus2",
]

#: atomic numbers 1..118 (index 0 unused)
N_ELEMENTS = 119


class GaussianBasis(nn.Module):
    """exp(-((d - mu_k) / width)^2) on ``n`` centres mu_k evenly spaced in [start, stop].

    CGCNN: centres 0..R every 0.2 Å, width 0.2 Å (Xie & Grossman 2018, Eq. 5 and its code's
    ``GaussianDistance(dmin=0, dmax=radius, step=0.2)``); MEGNet: 100 centres 0..r_cut, width 0.5 Å
    (Chen et al. 2019); ALIGNN's ``RBFExpansion`` uses exp(-(d - mu)^2 / spacing), i.e. width
    sqrt(spacing) (80 centres on 0..8 Å for bonds, 40 on -1..1 for angle cosines).
    """

    def __init__(self, start: float, stop: float, n: int, width: float) -> None:
        super().__init__()
        self.register_buffer("centres", torch.linspace(float(start), float(stop), int(n)))
        self.width = float(width)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return torch.exp(-(((d.view(-1, 1) - self.centres) / self.width) ** 2))


class SoftPlus2(nn.Module):
    """softplus(x) - log 2 (MEGNet's activation: zero at zero)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.softplus(x) - math.log(2.0)


def _mlp(sizes: list[int], act: type[nn.Module], last_act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[k], sizes[k + 1]))
        if last_act or k < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------- CGCNN
class CGCNNNet(nn.Module):
    """CGCNN (Xie & Grossman, Phys. Rev. Lett. 120, 145301 (2018)).

    Atom embedding -> ``n_conv`` gated graph convolutions (PyG ``CGConv``: v_i + Σ_j
    σ(z_ij W_f + b_f) ⊙ softplus(z_ij W_s + b_s), z_ij = v_i ⊕ v_j ⊕ u_ij, batch norm on the sum),
    each followed by softplus as in the paper's code -> mean pooling -> softplus -> ``n_h`` hidden
    layers of ``h_fea_len`` with softplus -> one output.

    Differences from the paper: atoms enter as a learned embedding of the atomic number, not the
    paper's 92-dimensional one-hot encoding of nine element properties passed through a linear
    layer; PyG's ``CGConv`` has no batch norm on the gate pre-activations (the paper's code has one,
    ``bn1``).
    """

    def __init__(self, atom_fea_len: int, n_conv: int, h_fea_len: int, n_h: int, cutoff: float,
                 gaussian_step: float, n_out: int = 1) -> None:
        super().__init__()
        n_g = round(cutoff / gaussian_step) + 1
        self.embedding = nn.Embedding(N_ELEMENTS, atom_fea_len)
        self.rbf = GaussianBasis(0.0, cutoff, n_g, gaussian_step)
        self.convs = nn.ModuleList(CGConv(atom_fea_len, dim=n_g, aggr="add", batch_norm=True) for _ in range(n_conv))
        self.conv_to_fc = nn.Linear(atom_fea_len, h_fea_len)
        self.fcs = nn.ModuleList(nn.Linear(h_fea_len, h_fea_len) for _ in range(n_h - 1))
        self.fc_out = nn.Linear(h_fea_len, n_out)

    def forward(self, b: dict) -> torch.Tensor:
        x = self.embedding(b["z"])
        e = self.rbf(b["edge_dist"])
        for conv in self.convs:
            x = nn.functional.softplus(conv(x, b["edge_index"], e))
        h = global_mean_pool(x, b["batch"], size=b["n_graphs"])
        h = nn.functional.softplus(self.conv_to_fc(nn.functional.softplus(h)))
        for fc in self.fcs:
            h = nn.functional.softplus(fc(h))
        return self.fc_out(h).view(-1)


# ----------------------------------------------------------------------------- MEGNet
class _MEGNetLayer(nn.Module):
    """One MEGNet graph network layer (Chen et al., Chem. Mater. 31, 3564 (2019), Eqs. 1-5):

    e'_k = φ_e(v_sk ⊕ v_rk ⊕ e_k ⊕ u);  v'_i = φ_v(mean_{k: r_k = i} e'_k ⊕ v_i ⊕ u);
    u' = φ_u(mean_k e'_k ⊕ mean_i v'_i ⊕ u); each φ an MLP (``units``) with softplus2.
    """

    def __init__(self, dim: int, units: list[int]) -> None:
        super().__init__()
        self.phi_e = _mlp([4 * dim, *units], SoftPlus2)
        self.phi_v = _mlp([3 * dim, *units], SoftPlus2)
        self.phi_u = _mlp([3 * dim, *units], SoftPlus2)

    def forward(self, v, e, u, edge_index, batch, edge_batch, n_graphs):
        src, dst = edge_index[0], edge_index[1]
        e_new = self.phi_e(torch.cat([v[src], v[dst], e, u[edge_batch]], dim=-1))
        e_mean = scatter(e_new, dst, dim=0, dim_size=v.shape[0], reduce="mean")
        v_new = self.phi_v(torch.cat([e_mean, v, u[batch]], dim=-1))
        u_new = self.phi_u(torch.cat([
            scatter(e_new, edge_batch, dim=0, dim_size=n_graphs, reduce="mean"),
            scatter(v_new, batch, dim=0, dim_size=n_graphs, reduce="mean"),
            u,
        ], dim=-1))
        return v_new, e_new, u_new


class MEGNetNet(nn.Module):
    """MEGNet (Chen, Ye, Zuo, Zheng, Ong, Chem. Mater. 31, 3564 (2019)).

    Atom embedding (``embedding_dim``, the paper's 16), bonds as a Gaussian expansion of their
    length (100 centres on 0..r_cut, width 0.5 Å), a global state u (the paper's two zeros for
    crystals without state input); each of v, e, u through a dense encoder (``dense_units``, the
    paper's 64, 32); ``n_blocks`` MEGNet blocks, each (but the first) with its own dense
    pre-processing of v, e, u, the MEGNet layer (``block_units``, the paper's 64, 64, 32) and a
    residual connection; Set2Set readouts of atoms and bonds (3 steps) ⊕ u -> dense 32, 16 -> output.

    Differences from the paper: no dropout (the paper's optional dropout is off by default);
    the state vector is not an input (always the two zeros).
    """

    def __init__(self, embedding_dim: int, dense_units: tuple[int, int], block_units: tuple[int, ...],
                 n_blocks: int, cutoff: float, n_gaussians: int, gaussian_width: float,
                 readout_units: tuple[int, int], set2set_steps: int = 3, n_out: int = 1) -> None:
        super().__init__()
        d1, d = int(dense_units[0]), int(dense_units[1])
        if int(block_units[-1]) != d:
            raise ValueError(f"MEGNet: the last block unit ({block_units[-1]}) must equal the dense width ({d}) "
                             "for the residual connections")
        self.embedding = nn.Embedding(N_ELEMENTS, int(embedding_dim))
        self.rbf = GaussianBasis(0.0, cutoff, n_gaussians, gaussian_width)
        self.state_dim = 2
        self.enc_v = _mlp([int(embedding_dim), d1, d], SoftPlus2)
        self.enc_e = _mlp([int(n_gaussians), d1, d], SoftPlus2)
        self.enc_u = _mlp([self.state_dim, d1, d], SoftPlus2)
        self.pre = nn.ModuleList(
            nn.ModuleList(_mlp([d, d1, d], SoftPlus2) for _ in range(3)) for _ in range(max(0, n_blocks - 1)))
        self.blocks = nn.ModuleList(_MEGNetLayer(d, [int(u) for u in block_units]) for _ in range(n_blocks))
        self.s2s_v = Set2Set(d, set2set_steps)
        self.s2s_e = Set2Set(d, set2set_steps)
        self.head = nn.Sequential(_mlp([5 * d, int(readout_units[0]), int(readout_units[1])], SoftPlus2),
                                  nn.Linear(int(readout_units[1]), n_out))

    def forward(self, b: dict) -> torch.Tensor:
        G = b["n_graphs"]
        v = self.enc_v(self.embedding(b["z"]))
        e = self.enc_e(self.rbf(b["edge_dist"]))
        u = self.enc_u(torch.zeros((G, self.state_dim), dtype=v.dtype, device=v.device))
        for k, block in enumerate(self.blocks):
            v_in, e_in, u_in = v, e, u
            if k > 0:
                pv, pe, pu = self.pre[k - 1]
                v, e, u = pv(v), pe(e), pu(u)
            v, e, u = block(v, e, u, b["edge_index"], b["batch"], b["edge_batch"], G)
            v, e, u = v + v_in, e + e_in, u + u_in
        sv = self.s2s_v(v, b["batch"], dim_size=G)
        se = self.s2s_e(e, b["edge_batch"], dim_size=G)
        return self.head(torch.cat([sv, se, u], dim=-1)).view(-1)


# ----------------------------------------------------------------------------- ALIGNN
class EdgeGatedGraphConv(nn.Module):
    """Edge-gated graph convolution (Bresson & Laurent 2017; Dwivedi et al. 2020) as ALIGNN uses it
    (Choudhary & DeCost, npj Comput. Mater. 7, 185 (2021), Eqs. 1-3):

    m_ij = A h_i + B h_j + C e_ij (i the centre, j the neighbour);  σ_ij = sigmoid(m_ij);
    h_i' = h_i + SiLU(BN(W_s h_i + Σ_j σ_ij ⊙ W_d h_j / (Σ_j σ_ij + 1e-6)));
    e_ij' = e_ij + SiLU(BN(m_ij)).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.src_gate = nn.Linear(dim, dim)
        self.dst_gate = nn.Linear(dim, dim)
        self.edge_gate = nn.Linear(dim, dim)
        self.src_update = nn.Linear(dim, dim)
        self.dst_update = nn.Linear(dim, dim)
        self.bn_nodes = nn.BatchNorm1d(dim)
        self.bn_edges = nn.BatchNorm1d(dim)

    def forward(self, h: torch.Tensor, e: torch.Tensor, edge_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        src, dst = edge_index[0], edge_index[1]
        m = self.src_gate(h)[src] + self.dst_gate(h)[dst] + self.edge_gate(e)
        sigma = torch.sigmoid(m)
        num = scatter(sigma * self.dst_update(h)[src], dst, dim=0, dim_size=h.shape[0], reduce="sum")
        den = scatter(sigma, dst, dim=0, dim_size=h.shape[0], reduce="sum")
        x = self.src_update(h) + num / (den + 1e-6)
        h_out = h + nn.functional.silu(self.bn_nodes(x))
        e_out = e + nn.functional.silu(self.bn_edges(m))
        return h_out, e_out


def _embed(n_in: int, mid: int, dim: int) -> nn.Sequential:
    """ALIGNN's ``MLPLayer`` pair: Linear -> BatchNorm -> SiLU, twice."""
    return nn.Sequential(nn.Linear(n_in, mid), nn.BatchNorm1d(mid), nn.SiLU(),
                         nn.Linear(mid, dim), nn.BatchNorm1d(dim), nn.SiLU())


class ALIGNNNet(nn.Module):
    """ALIGNN (Choudhary & DeCost, npj Comput. Mater. 7, 185 (2021)).

    Atoms: embedding -> ``hidden``; bonds: RBF of the length (``edge_bins`` centres on 0..cutoff)
    -> MLP (``embedding_features``) -> ``hidden``; angles: RBF of cos θ (``triplet_bins`` centres on
    -1..1) -> MLP -> ``hidden``. ``alignn_layers`` ALIGNN layers, each an edge-gated convolution on
    the line graph (bonds as nodes, angles as edges) then one on the atom graph (the updated bonds
    as edges); ``gcn_layers`` edge-gated convolutions on the atom graph; mean pooling; linear output.
    Paper: hidden 256, embedding 64, 80 / 40 bins, 4 + 4 layers, 8 Å, 12 nearest neighbours.

    Differences from the paper: atoms enter as a learned embedding of the atomic number instead of
    CGCNN's 92 element features through an MLP; the line graph leaves out each bond's pair with
    its own reverse (DGL's back-tracking pair, angle 0, which carries no information).
    """

    def __init__(self, hidden: int, embedding_features: int, edge_bins: int, triplet_bins: int,
                 alignn_layers: int, gcn_layers: int, cutoff: float, n_out: int = 1) -> None:
        super().__init__()
        self.atom_embedding = nn.Sequential(nn.Embedding(N_ELEMENTS, hidden))
        self.rbf_edge = GaussianBasis(0.0, cutoff, edge_bins, math.sqrt(cutoff / (edge_bins - 1)))
        self.rbf_angle = GaussianBasis(-1.0, 1.0, triplet_bins, math.sqrt(2.0 / (triplet_bins - 1)))
        self.edge_embedding = _embed(edge_bins, embedding_features, hidden)
        self.angle_embedding = _embed(triplet_bins, embedding_features, hidden)
        self.alignn = nn.ModuleList(
            nn.ModuleList([EdgeGatedGraphConv(hidden), EdgeGatedGraphConv(hidden)]) for _ in range(alignn_layers))
        self.gcn = nn.ModuleList(EdgeGatedGraphConv(hidden) for _ in range(gcn_layers))
        self.fc = nn.Linear(hidden, n_out)

    def forward(self, b: dict) -> torch.Tensor:
        x = self.atom_embedding(b["z"])
        y = self.edge_embedding(self.rbf_edge(b["edge_dist"]))
        z = self.angle_embedding(self.rbf_angle(b["angle_cos"]))
        for line_conv, atom_conv in self.alignn:
            y, z = line_conv(y, z, b["line_index"])
            x, y = atom_conv(x, y, b["edge_index"])
        for conv in self.gcn:
            x, y = conv(x, y, b["edge_index"])
        h = global_mean_pool(x, b["batch"], size=b["n_graphs"])
        return self.fc(h).view(-1)
