"""Molecular properties: QM9's twelve targets (and QM7, GFN2-xTB molecules), the papers' error measures."""

from matscibench.families.base import CostColumn, Family
from matscibench.models.molecules import MODEL_ENTRIES

FAMILY = Family(
    name="molecules",
    title="Molecular properties",
    tasks="matscibench.tasks.molecule",
    datasets="matscibench.data.molecule_data",
    metrics="matscibench.metrics.molecule",
    models=tuple(MODEL_ENTRIES),
    cost_columns=(
        (CostColumn("predict.throughput_molecules_per_s", "inference (molecules/s)", "rate"),
         "predict.throughput_structures_per_s"),
    ),
    default_timeout_s=3 * 3600.0,
)
