"""The upstream implementations through the same contract: ``alignn`` (NIST's package) and
``matgl`` (the Materials Virtual Lab's M3GNet / MEGNet), trained by the shared trainer.

Each adapter keeps the upstream package's own graph construction and network and replaces only
the training loop (``graphnets.base.CrystalGraphModel``: seeded epochs, validation every epoch,
best weights, the same loss and optimiser as ours), so a row of the report compares networks,
not training recipes. Neither package is a dependency: a missing one raises ``ImportError`` at
construction with the pip command (pinning the installed torch so pip keeps it).

* ``UpstreamALIGNNModel`` (``alignn_upstream``): ``alignn.models.alignn_atomwise_pure.ALIGNNAtomWisePure``
  (alignn's DGL-free ALIGNN; its DGL ``ALIGNN`` class needs ``dgl``, whose last wheels predate
  this torch) on graphs from ``alignn.torch_graph_builder.build_pure_torch_graph`` with CGCNN's
  92 atom features, as a property model (no forces: ``calculate_gradient=False``, no per-atom
  energy scaling, no short-distance penalty). Classification uses one logit and our sigmoid head,
  not alignn's two-class log-softmax.
* ``MatglM3GNetModel`` (``m3gnet_matgl``): ``matgl.models.M3GNet`` (Chen & Ong, Nat. Comput. Sci.
  2, 718 (2022); three-body interactions) as an intensive property model on
  ``matgl.ext.pymatgen.Structure2Graph`` graphs; weights are trained here, none downloaded.

Checked here with alignn 2026.8.11 and matgl 4.1.2 beside torch 2.13.0 (installed in a separate
environment that sees this one's packages; ``pip install alignn matgl torch==2.13.0`` would
downgrade python-dateutil 4.0.0 to 2.9.0.post0 for botocore, which matgl pulls in).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import numpy as np

from matscibench.families.properties.graphnets.base import CrystalGraphModel
from matscibench.featurizers.crystal_graph import structure_arrays

__all__ = ["MatglM3GNetModel", "UpstreamALIGNNModel"]


def _require(package: str, what: str) -> None:
    if importlib.util.find_spec(package) is None:
        try:
            from importlib.metadata import version

            pin = f" torch=={version('torch').split('+')[0]}"
        except Exception:  # noqa: BLE001 - torch absent: nothing to pin
            pin = ""
        raise ImportError(
            f"{what} needs the Python package '{package}', which is not installed. Install it with: "
            f"pip install {package}{pin} (the pin keeps pip from replacing the installed torch)"
        )


def _symbols(z: np.ndarray) -> list[str]:
    from ase.data import chemical_symbols

    return [chemical_symbols[int(k)] for k in z]


class UpstreamALIGNNModel(CrystalGraphModel):
    """alignn's own ALIGNN network and graphs, trained by the shared trainer.

    Network parameters (``ALIGNNAtomWisePureConfig``; paper in brackets): ``alignn_layers`` [4],
    ``gcn_layers`` [4], ``hidden_features`` [256], ``embedding_features`` [64], ``edge_bins``
    [80], ``triplet_bins`` [40], ``cutoff`` [8 Å], ``max_neighbors`` [12].
    """

    label = "alignn_upstream"
    line_graph = True

    def __init__(self, alignn_layers: int = 2, gcn_layers: int = 1, hidden_features: int = 32,
                 embedding_features: int = 16, edge_bins: int = 40, triplet_bins: int = 20, cutoff: float = 8.0,
                 max_neighbors: int | None = 12, epochs: int = 30, batch_size: int = 64, lr: float = 3e-3,
                 weight_decay: float = 1e-5, loss: str = "mse", validation_fraction: float = 0.1,
                 patience: int | None = None, stop_at_target: bool = False, cache_graphs: bool = False,
                 device: str | None = "auto", random_state: int | None = None) -> None:
        _require("alignn", "alignn_upstream")
        self._set_params_from(locals())

    def _graphs(self, X: Sequence[Any], cache: bool) -> list[Any]:
        import torch
        from alignn.torch_graph_builder import build_pure_torch_graph
        from jarvis.core.atoms import Atoms as JAtoms

        out = []
        with torch.no_grad():
            for x in X:
                z, pos, cell = structure_arrays(x)
                atoms = JAtoms(lattice_mat=cell, coords=pos, elements=_symbols(z), cartesian=True)
                out.append(build_pure_torch_graph(atoms, two_body_cutoff=float(self.cutoff),
                                                  max_neighbors=self.max_neighbors, atom_features="cgcnn",
                                                  compute_line_graph=True))
        self.graph_cache_hits_, self.graphs_built_ = 0, len(out)
        return out

    def _collate(self, graphs: Sequence[Any]) -> Any:
        from alignn.torch_graph_builder import batch_torch_graph_pairs

        g, lg = batch_torch_graph_pairs(list(graphs))
        return g.to(self.device_), lg.to(self.device_)

    def _forward(self, batch: Any):
        g, lg = batch
        return self.net_((g, lg, None))["out"]

    def _build(self, n_out: int):
        from alignn.models.alignn_atomwise_pure import (
            ALIGNNAtomWisePure,
            ALIGNNAtomWisePureConfig,
        )

        config = ALIGNNAtomWisePureConfig(
            name="alignn_atomwise_pure", alignn_layers=int(self.alignn_layers), gcn_layers=int(self.gcn_layers),
            atom_input_features=92, edge_input_features=int(self.edge_bins),
            triplet_input_features=int(self.triplet_bins), embedding_features=int(self.embedding_features),
            hidden_features=int(self.hidden_features), output_features=n_out, calculate_gradient=False,
            gradwise_weight=0.0, energy_mult_natoms=False, use_penalty=False, use_zbl=False,
            three_body_cutoff=float(self.cutoff),
        )
        return ALIGNNAtomWisePure(config)


class MatglM3GNetModel(CrystalGraphModel):
    """matgl's M3GNet (three-body interactions) as a property model, trained by the shared trainer.

    Network parameters (``matgl.models.M3GNet``; M3GNet paper in brackets): ``units`` [64],
    ``nblocks`` [3], ``max_n`` [3], ``max_l`` [3], ``cutoff`` [5 Å], ``threebody_cutoff`` [4 Å];
    intensive readout (``weighted_atom``). ``max_neighbors`` is not used (matgl keeps every
    neighbour within the cut-off).
    """

    label = "m3gnet_matgl"

    def __init__(self, units: int = 32, nblocks: int = 2, max_n: int = 3, max_l: int = 3, cutoff: float = 5.0,
                 threebody_cutoff: float = 4.0, max_neighbors: int | None = None, epochs: int = 30,
                 batch_size: int = 64, lr: float = 3e-3, weight_decay: float = 0.0, loss: str = "mse",
                 validation_fraction: float = 0.1, patience: int | None = None, stop_at_target: bool = False,
                 cache_graphs: bool = False, device: str | None = "auto", random_state: int | None = None) -> None:
        _require("matgl", "m3gnet_matgl")
        self._set_params_from(locals())

    def _graphs(self, X: Sequence[Any], cache: bool) -> list[Any]:
        import torch
        from matgl.ext.pymatgen import Structure2Graph
        from pymatgen.core import Lattice, Structure

        structures = []
        for x in X:
            z, pos, cell = structure_arrays(x)
            structures.append(Structure(Lattice(cell), _symbols(z), pos, coords_are_cartesian=True))
        if not hasattr(self, "element_types_"):
            self.element_types_ = tuple(sorted({el for s in structures for el in map(str, s.composition.elements)}))
        unknown = sorted({el for s in structures for el in map(str, s.composition.elements)} - set(self.element_types_))
        if unknown:
            raise ValueError(f"m3gnet_matgl was fitted on {', '.join(self.element_types_)}; its one-hot element "
                             f"types have no place for {', '.join(unknown)}")
        conv = Structure2Graph(element_types=self.element_types_, cutoff=float(self.cutoff))
        out = []
        with torch.no_grad():
            for s in structures:
                g, lat, _ = conv.get_graph(s)
                g.pbc_offshift = torch.matmul(g.pbc_offset, lat[0])
                g.pos = g.frac_coords @ lat[0]
                out.append(g)
        self.graph_cache_hits_, self.graphs_built_ = 0, len(out)
        return out

    def fit(self, X: Sequence[Any], y: Any, on_epoch: Any = None, validation_data: Any = None) -> MatglM3GNetModel:
        # the element types are those of the training (and validation) crystals
        if hasattr(self, "element_types_"):
            del self.element_types_
        els = {str(el) for x in X for el in _symbols(structure_arrays(x)[0])}
        if validation_data is not None:
            els |= {str(el) for x in validation_data[0] for el in _symbols(structure_arrays(x)[0])}
        self.element_types_ = tuple(sorted(els))
        return super().fit(X, y, on_epoch=on_epoch, validation_data=validation_data)

    def _collate(self, graphs: Sequence[Any]) -> Any:
        from torch_geometric.data import Batch

        return Batch.from_data_list(list(graphs)).to(self.device_)

    def _forward(self, batch: Any):
        return self.net_(g=batch).view(-1)

    def _build(self, n_out: int):
        from matgl.models import M3GNet

        return M3GNet(element_types=self.element_types_, units=int(self.units), nblocks=int(self.nblocks),
                      max_n=int(self.max_n), max_l=int(self.max_l), cutoff=float(self.cutoff),
                      threebody_cutoff=float(self.threebody_cutoff), is_intensive=True, ntargets=n_out,
                      readout_type="weighted_atom")
