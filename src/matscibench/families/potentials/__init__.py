"""Interatomic potentials: energy, force and stress errors, MD stability, cost of a call and of MD."""

from matscibench.families.base import CostColumn, Family, Glance
from matscibench.models.potentials import MODEL_ENTRIES

FAMILY = Family(
    name="potentials",
    title="Interatomic potentials",
    tasks="matscibench.tasks.potential",
    datasets="matscibench.data.potential_data",
    metrics="matscibench.metrics.potential",
    models=tuple(MODEL_ENTRIES),
    cost_columns=(
        (CostColumn("predict.ms_per_call", "energy+forces call (ms)", "time", "energy+forces call (ms)"), "predict.wall_s"),
        (CostColumn("md.atom_steps_per_s", "MD (atom-steps/s)", "rate", "MD (atom-steps/s)"), "predict.ms_per_call"),
        (CostColumn("md.ns_per_day", "MD (ns/day)", "rate", ""), "md.atom_steps_per_s"),
        (CostColumn("scaling.exponent", "time ∝ N^x, x", "cost", "scaling exponent"), "md.ns_per_day"),
        (CostColumn("scaling.max_atoms", "largest system timed (atoms)", "cost", ""), "scaling.exponent"),
        (CostColumn("scaling.ms_per_call_largest", "call at largest size (ms)", "time", ""), "scaling.max_atoms"),
        (CostColumn("scaling.peak_rss_MiB_largest", "peak RSS at largest size (MiB)", "cost", ""), "scaling.ms_per_call_largest"),
    ),
    glance=Glance(
        "Errors, stability and cost side by side",
        ("energy_mae_per_structure", "energy_mae_per_atom", "force_mae", "sciml_force_angle_mae", "md_stable_time",
         "hr_error", "md_screen_stable_time", "eos_bulk_modulus_error", "residual_force_rms", "energy_spearman",
         "composition_baseline_spearman"),
        ("train.time_to_target_s", "train.total_s", "predict.ms_per_call", "md.ns_per_day", "md.atom_steps_per_s",
         "scaling.exponent", "job.peak_rss_MiB"),
    ),
    default_timeout_s=12 * 3600.0,
)
