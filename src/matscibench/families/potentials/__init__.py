"""Interatomic potentials: energy, force and stress errors, MD stability, cost of a call and of MD."""

from matscibench.families.base import CostColumn, Family, Glance
from matscibench.models.base import ModelEntry

FAMILY = Family(
    name="potentials",
    title="Interatomic potentials",
    tasks="matscibench.families.potentials.task",
    datasets="matscibench.families.potentials.data",
    metrics="matscibench.families.potentials.metrics",
    models=(
        ModelEntry("emt_reference", "matscibench.families.potentials.models.adapters:EMTReference", {},
                   "ASE's EMT, the labels of the EMT datasets (zero error; the cost of the reference)", family="potentials"),
        ModelEntry("xtb_reference", "matscibench.families.potentials.models.adapters:XTBReference", {},
                   "GFN2-xTB through tblite, the labels of the xTB datasets (zero error; the cost of the reference)",
                   family="potentials"),
        ModelEntry("linear_acelike", "matscibench.families.potentials.models.linear_ace:LinearACEPotential", {},
                   "linear 2+3-body potential (Cartesian moments, cos^l θ up to l=4, 5 Å), ridge on energies, forces "
                   "and stresses; analytic forces and stress", family="potentials"),
        # "schnet" names the molecules family's property model; the potential is "schnet_potential" only
        ModelEntry("schnet_potential", "matscibench.families.potentials.models.schnet:SchNetPotential", {},
                   "SchNet interatomic potential on PyG (64 features, 3 interactions, 5 Å), Adam on energies+forces, "
                   "forces and stress by autograd; reports the validation force MAE per epoch", family="potentials"),
        ModelEntry("chgnet", "matscibench.families.potentials.models.adapters:CHGNetModel", {},
                   "CHGNet 0.3.0 universal potential (pretrained on MPtrj), no fitting; needs pip install chgnet",
                   family="potentials"),
        ModelEntry("sevennet", "matscibench.families.potentials.models.adapters:SevenNetModel", {},
                   "SevenNet-0 universal potential (pretrained on MPtrj), no fitting; needs pip install sevenn",
                   family="potentials"),
        ModelEntry("mace_mp0", "matscibench.families.potentials.models.adapters:MACEModel", {},
                   "MACE-MP-0 medium universal potential (Batatia et al. 2024) through mace-torch's calculator; "
                   "needs pip install mace-torch and the model file in <cache>/models/mace/ (nothing is downloaded)",
                   family="potentials"),
        ModelEntry("mattersim", "matscibench.families.potentials.models.adapters:MatterSimModel", {},
                   "MatterSim v1.0.0-1M universal potential (Yang et al. 2024); needs pip install mattersim and "
                   "the checkpoint in <cache>/models/mattersim/ (nothing is downloaded)",
                   family="potentials"),
    ),
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
