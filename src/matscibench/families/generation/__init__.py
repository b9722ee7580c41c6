"""Crystal generation: CDVAE's validity, coverage, property EMDs and match rate; newness and stability."""

from matscibench.families.base import CostColumn, Family, Glance
from matscibench.models.base import ModelEntry

_MODELS = "matscibench.families.generation.models"

FAMILY = Family(
    name="generation",
    title="Crystal generation",
    tasks="matscibench.families.generation.task",
    metrics="matscibench.families.generation.metrics",
    models=(
        ModelEntry("gen_replay", f"{_MODELS}:TrainingReplay", {},
                   "training structures replayed: the coverage upper bound, zero novelty", family="generation"),
        ModelEntry("gen_perturb", f"{_MODELS}:RandomPerturbation", {},
                   "training structures + Gaussian noise (0.1 Å on atoms, 2 % strain on the cell); reconstruct = a "
                   "noisy copy", family="generation"),
        ModelEntry("gen_substitute", f"{_MODELS}:ElementSubstitution", {},
                   "training structures with one element swapped for a neighbour on the Pettifor scale",
                   family="generation"),
        ModelEntry("gen_pyxtal", f"{_MODELS}:PyxtalRandom", {},
                   "random symmetric crystals (PyXtal) with training compositions", family="generation"),
    ),
    cost_columns=(
        (CostColumn("reconstruct.wall_s", "reconstruct (s)", "time"), "predict.throughput_atoms_per_s"),
        (CostColumn("metrics.wall_s", "metrics wall (s)", "time", "metrics (s)"), "reconstruct.wall_s"),
        (CostColumn("metrics.throughput_structures_per_s", "metrics (generated structures/s)", "rate"), "metrics.wall_s"),
        (CostColumn("metrics/fingerprint.wall_s", "fingerprints (s)", "time"), "metrics.throughput_structures_per_s"),
        (CostColumn("metrics/match.wall_s", "unique + novel matching (s)", "time"), "metrics/fingerprint.wall_s"),
        (CostColumn("metrics/stability.wall_s", "relaxation + hull (s)", "time"), "metrics/match.wall_s"),
    ),
    # CDVAE's headline metrics, newness, and what sampling and scoring cost
    # ("inference (structures/s)" is the sampling throughput of a generator)
    glance=Glance(
        "Validity, coverage, newness and cost side by side",
        ("validity", "cov_recall", "cov_precision", "density_emd", "property_emd", "un_rate", "sun_rate", "match_rate"),
        ("train.total_s", "predict.throughput_structures_per_s", "metrics.wall_s", "metrics/fingerprint.wall_s",
         "metrics/stability.wall_s", "job.peak_rss_MiB"),
    ),
    default_timeout_s=12 * 3600.0,
)
