"""Molecular properties: QM9's twelve targets (and QM7, GFN2-xTB molecules), the papers' error measures."""

from matscibench.families.base import CostColumn, Family
from matscibench.models.base import ModelCard, ModelEntry

FAMILY = Family(
    name="molecules",
    title="Molecular properties",
    tasks="matscibench.families.molecules.task",
    datasets="matscibench.families.molecules.data",
    metrics="matscibench.families.molecules.metrics",
    models=(
        ModelEntry(
            "cm_krr",
            "matscibench.families.molecules.models:CoulombMatrixKRR",
            {},
            "Coulomb-matrix eigenvalues + Laplacian kernel ridge regression (Rupp et al. 2012), width and "
            "ridge chosen on a held-out 20 %, per-element linear baseline",
            family="molecules",
            card=ModelCard(doi="10.1103/PhysRevLett.108.058301"),
        ),
        ModelEntry(
            "schnet",
            "matscibench.families.molecules.models:SchNetModel",
            {},
            "PyG SchNet (64 channels, 3 interactions, 5 Å) with our radius graph; 30 epochs, Adam, best "
            "validation epoch kept; time to target",
            family="molecules",
            card=ModelCard(doi="10.1063/1.5019779"),
        ),
        ModelEntry(
            "schnet_small",
            "matscibench.families.molecules.models:SchNetModel",
            {"hidden_channels": 32, "num_filters": 32, "num_interactions": 2, "num_gaussians": 20, "epochs": 8,
             "batch_size": 64, "lr": 3e-3},
            "PyG SchNet, small and short (32 channels, 2 interactions, 8 epochs) for quick suites",
            family="molecules",
            card=ModelCard(doi="10.1063/1.5019779"),
        ),
        ModelEntry(
            "dimenetpp",
            "matscibench.families.molecules.models:DimeNetPPModel",
            {},
            "PyG DimeNet++ (64 hidden, 2 blocks, 5 Å) with our graph and triplets; 20 epochs; time to target",
            family="molecules",
            card=ModelCard(doi="10.48550/arXiv.2011.14115"),
        ),
    ),
    cost_columns=(
        (CostColumn("predict.throughput_molecules_per_s", "inference (molecules/s)", "rate"),
         "predict.throughput_structures_per_s"),
    ),
    default_timeout_s=3 * 3600.0,
)
