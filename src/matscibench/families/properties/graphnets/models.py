"""Crystal graph networks as property models: ``CGCNNModel``, ``MEGNetModel``, ``ALIGNNModel``.

Each is the shared trainer (``graphnets.base.CrystalGraphModel``) around one network of
``graphnets.layers``. Defaults are small (CPU seconds to minutes on thousands of small cells);
the papers' sizes are written beside each parameter and used by the full suite.
"""

from __future__ import annotations

from matscibench.families.properties.graphnets.base import CrystalGraphModel
from matscibench.models.base import require_packages

__all__ = ["ALIGNNModel", "CGCNNModel", "MEGNetModel"]


class CGCNNModel(CrystalGraphModel):
    """CGCNN (Xie & Grossman, PRL 120, 145301 (2018)) with the shared trainer.

    Network parameters (paper / its code's defaults in brackets): ``atom_fea_len`` [64],
    ``n_conv`` [3], ``h_fea_len`` [128], ``n_h`` [1], ``cutoff`` [8 Å], ``max_neighbors`` [12],
    ``gaussian_step`` [0.2 Å]. Training in the paper's code: SGD, lr 0.01, 30 epochs, batch 256,
    MSE on standardised targets; here AdamW and a cosine decay (see the trainer).
    Where it differs from the paper: ``layers.CGCNNNet``.
    """

    label = "cgcnn"

    def __init__(self, atom_fea_len: int = 32, n_conv: int = 3, h_fea_len: int = 64, n_h: int = 1,
                 cutoff: float = 8.0, max_neighbors: int | None = 12, gaussian_step: float = 0.2,
                 epochs: int = 30, batch_size: int = 64, lr: float = 3e-3, weight_decay: float = 0.0,
                 loss: str = "mse", validation_fraction: float = 0.1, patience: int | None = None,
                 stop_at_target: bool = False, cache_graphs: bool = True, device: str | None = "auto",
                 random_state: int | None = None) -> None:
        require_packages("cgcnn", "torch", "torch_geometric")
        self._set_params_from(locals())

    def _build(self, n_out: int):
        from matscibench.families.properties.graphnets.layers import CGCNNNet

        return CGCNNNet(int(self.atom_fea_len), int(self.n_conv), int(self.h_fea_len), int(self.n_h),
                        float(self.cutoff), float(self.gaussian_step), n_out)


class MEGNetModel(CrystalGraphModel):
    """MEGNet (Chen, Ye, Zuo, Zheng, Ong, Chem. Mater. 31, 3564 (2019)) with the shared trainer.

    Network parameters (paper in brackets): ``embedding_dim`` [16], ``dense_units`` [(64, 32)],
    ``block_units`` [(64, 64, 32)], ``n_blocks`` [3], ``cutoff`` [5 Å for crystals; no neighbour
    limit], ``n_gaussians`` [100], ``gaussian_width`` [0.5 Å], ``readout_units`` [(32, 16)].
    Training in the paper: Adam, lr 1e-3, MSE, up to 1,000 epochs with early stopping.
    Where it differs from the paper: ``layers.MEGNetNet``.
    """

    label = "megnet"

    def __init__(self, embedding_dim: int = 16, dense_units: tuple[int, int] = (32, 16),
                 block_units: tuple[int, ...] = (32, 32, 16), n_blocks: int = 2, cutoff: float = 5.0,
                 max_neighbors: int | None = None, n_gaussians: int = 50, gaussian_width: float = 0.5,
                 readout_units: tuple[int, int] = (32, 16), epochs: int = 30, batch_size: int = 64,
                 lr: float = 3e-3, weight_decay: float = 0.0, loss: str = "mse", validation_fraction: float = 0.1,
                 patience: int | None = None, stop_at_target: bool = False, cache_graphs: bool = True,
                 device: str | None = "auto", random_state: int | None = None) -> None:
        require_packages("megnet", "torch", "torch_geometric")
        self._set_params_from(locals())

    def _build(self, n_out: int):
        from matscibench.families.properties.graphnets.layers import MEGNetNet

        return MEGNetNet(int(self.embedding_dim), tuple(self.dense_units), tuple(self.block_units), int(self.n_blocks),
                         float(self.cutoff), int(self.n_gaussians), float(self.gaussian_width),
                         tuple(self.readout_units), 3, n_out)


class ALIGNNModel(CrystalGraphModel):
    """ALIGNN (Choudhary & DeCost, npj Comput. Mater. 7, 185 (2021)) with the shared trainer.

    Network parameters (paper in brackets): ``hidden`` [256], ``embedding_features`` [64],
    ``edge_bins`` [80], ``triplet_bins`` [40], ``alignn_layers`` [4], ``gcn_layers`` [4],
    ``cutoff`` [8 Å], ``max_neighbors`` [12]. Training in the paper: AdamW, lr 1e-3, weight decay
    1e-5, one-cycle schedule, 300 epochs, batch 64, MSE.
    Where it differs from the paper: ``layers.ALIGNNNet``.
    """

    label = "alignn"
    line_graph = True

    def __init__(self, hidden: int = 32, embedding_features: int = 16, edge_bins: int = 40, triplet_bins: int = 20,
                 alignn_layers: int = 2, gcn_layers: int = 1, cutoff: float = 8.0, max_neighbors: int | None = 12,
                 epochs: int = 30, batch_size: int = 64, lr: float = 3e-3, weight_decay: float = 1e-5,
                 loss: str = "mse", validation_fraction: float = 0.1, patience: int | None = None,
                 stop_at_target: bool = False, cache_graphs: bool = True, device: str | None = "auto",
                 random_state: int | None = None) -> None:
        require_packages("alignn (ours)", "torch", "torch_geometric")
        self._set_params_from(locals())

    def _build(self, n_out: int):
        from matscibench.families.properties.graphnets.layers import ALIGNNNet

        return ALIGNNNet(int(self.hidden), int(self.embedding_features), int(self.edge_bins), int(self.triplet_bins),
                         int(self.alignn_layers), int(self.gcn_layers), float(self.cutoff), n_out)
