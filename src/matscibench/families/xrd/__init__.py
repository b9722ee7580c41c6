"""Characterization: powder XRD patterns to crystal system, space group and lattice parameters."""

from matscibench.families.base import CostColumn, Family
from matscibench.models.base import ModelEntry

_MODELS = "matscibench.families.xrd.models"

FAMILY = Family(
    name="xrd",
    title="Characterization: powder diffraction",
    tasks="matscibench.families.xrd.task",
    datasets="matscibench.families.xrd.data",
    metrics="matscibench.families.xrd.metrics",
    models=(
        ModelEntry("xrd_dummy", f"{_MODELS}:PatternDummy", {}, "majority crystal system / space group, mean lattice", "xrd"),
        ModelEntry(
            "xrd_rf",
            f"{_MODELS}:PatternForest",
            {"estimator": "random_forest", "features": "pattern"},
            "random forest (200 trees) on the pattern (maximum over pairs of 2θ points)",
            "xrd",
        ),
        ModelEntry(
            "xrd_et_peaks",
            f"{_MODELS}:PatternForest",
            {"estimator": "extra_trees", "features": "pattern+peaks"},
            "extremely randomised trees (200) on the pattern plus peak features (sin²θ of the 20 strongest peaks, "
            "ratios to the first, heights)",
            "xrd",
        ),
        ModelEntry(
            "xrd_cnn",
            f"{_MODELS}:PatternCNN",
            {},
            "1-D CNN (4 conv blocks, 8-32 channels, PyTorch), 25 epochs; validation score every epoch (time to target)",
            "xrd",
        ),
    ),
    cost_columns=(
        (CostColumn("predict.throughput_patterns_per_s", "inference (patterns/s)", "rate", "inference (patterns/s)"),
         "predict.throughput_structures_per_s"),
        (CostColumn("data.simulation_patterns_per_s", "pattern simulation (patterns/s per core)", "rate", ""), "load.wall_s"),
    ),
    shared_metrics=("accuracy", "balanced_accuracy"),
    default_timeout_s=3 * 3600.0,
)
