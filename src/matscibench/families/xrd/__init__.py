"""Characterization: powder XRD patterns to crystal system, space group and lattice parameters."""

from matscibench.families.base import CostColumn, Family
from matscibench.models.xrd import MODEL_ENTRIES

FAMILY = Family(
    name="xrd",
    title="Characterization: powder diffraction",
    tasks="matscibench.tasks.xrd",
    datasets="matscibench.data.xrd_data",
    metrics="matscibench.metrics.xrd",
    models=tuple(MODEL_ENTRIES),
    cost_columns=(
        (CostColumn("predict.throughput_patterns_per_s", "inference (patterns/s)", "rate", "inference (patterns/s)"),
         "predict.throughput_structures_per_s"),
        (CostColumn("data.simulation_patterns_per_s", "pattern simulation (patterns/s per core)", "rate", ""), "load.wall_s"),
    ),
    shared_metrics=("accuracy", "balanced_accuracy"),
    default_timeout_s=3 * 3600.0,
)
