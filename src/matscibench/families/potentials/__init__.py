"""Interatomic potentials: energy, force and stress errors, MD stability, cost of a call and of MD."""

from matscibench.families.base import CostColumn, Family, Glance
from matscibench.models.base import ModelCard, ModelEntry

FAMILY = Family(
    name="potentials",
    title="Interatomic potentials",
    tasks="matscibench.families.potentials.task",
    datasets="matscibench.families.potentials.data",
    metrics="matscibench.families.potentials.metrics",
    models=(
        ModelEntry("emt_reference", "matscibench.families.potentials.models.adapters:EMTReference", {},
                   "ASE's EMT, the labels of the EMT datasets (zero error; the cost of the reference)", family="potentials",
                   card=ModelCard(name="EMT (ASE)", doi="10.1016/0039-6028(96)00816-3", license="LGPL-2.1 (ASE)",
                                  code_url="https://gitlab.com/ase/ase", training_data=("none: a fixed potential",))),
        ModelEntry("xtb_reference", "matscibench.families.potentials.models.adapters:XTBReference", {},
                   "GFN2-xTB through tblite, the labels of the xTB datasets (zero error; the cost of the reference)",
                   family="potentials",
                   card=ModelCard(name="GFN2-xTB (tblite)", doi="10.1021/acs.jctc.8b01176", license="LGPL-3.0 (tblite)",
                                  code_url="https://github.com/tblite/tblite",
                                  training_data=("none: a semi-empirical method",))),
        ModelEntry("linear_acelike", "matscibench.families.potentials.models.linear_ace:LinearACEPotential", {},
                   "linear 2+3-body potential (Cartesian moments, cos^l θ up to l=4, 5 Å), ridge on energies, forces "
                   "and stresses; analytic forces and stress", family="potentials"),
        # "schnet" names the molecules family's property model; the potential is "schnet_potential" only
        ModelEntry("schnet_potential", "matscibench.families.potentials.models.schnet:SchNetPotential", {},
                   "SchNet interatomic potential on PyG (64 features, 3 interactions, 5 Å), Adam on energies+forces, "
                   "forces and stress by autograd; reports the validation force MAE per epoch", family="potentials"),
        ModelEntry("chgnet", "matscibench.families.potentials.models.adapters:CHGNetModel", {},
                   "CHGNet 0.3.0 universal potential (pretrained on MPtrj), no fitting; needs pip install chgnet",
                   family="potentials",
                   # card after CHGNet's matbench-discovery model file (models/chgnet/chgnet-0.3.0.yml)
                   card=ModelCard(name="CHGNet", version="0.3.0", authors=("B. Deng", "P. Zhong", "K. Jun", "J. Riebesell",
                                  "K. Han", "C. J. Bartel", "G. Ceder"), license="BSD-3-Clause (modified BSD)",
                                  doi="10.1038/s42256-023-00716-3", code_url="https://github.com/CederGroupHub/chgnet",
                                  training_data=("MPtrj",), n_parameters=412_525)),
        ModelEntry("sevennet", "matscibench.families.potentials.models.adapters:SevenNetModel", {},
                   "SevenNet-0 universal potential (pretrained on MPtrj), no fitting; needs pip install sevenn",
                   family="potentials",
                   # card after matbench-discovery's models/sevennet/sevennet-0.yml
                   card=ModelCard(name="SevenNet-0", authors=("Y. Park", "J. Kim", "S. Hwang", "S. Han"), license="MIT",
                                  doi="10.1021/acs.jctc.4c00190", code_url="https://github.com/MDIL-SNU/SevenNet",
                                  training_data=("MPtrj",), n_parameters=842_440,
                                  hyperparameters={"n_layers": 5, "radial_cutoff_A": 5.0, "l_max": 2, "epochs": 600})),
        ModelEntry("mace_mp0", "matscibench.families.potentials.models.adapters:MACEModel", {},
                   "MACE-MP-0 medium universal potential (Batatia et al. 2024) through mace-torch's calculator; "
                   "needs pip install mace-torch and the model file in <cache>/models/mace/ (nothing is downloaded)",
                   family="potentials",
                   # card after matbench-discovery's models/mace/mace-mp-0.yml (checkpoint 2023-12-03-mace-128-L1)
                   card=ModelCard(name="MACE-MP-0 (medium)", authors=("I. Batatia", "D. P. Kovács", "G. Csányi", "et al."),
                                  license="MIT", doi="10.48550/arXiv.2401.00096", code_url="https://github.com/ACEsuit/mace",
                                  training_data=("MPtrj",), n_parameters=4_688_656,
                                  hyperparameters={"radial_cutoff_A": 6.0})),
        ModelEntry("mattersim", "matscibench.families.potentials.models.adapters:MatterSimModel", {},
                   "MatterSim v1.0.0-1M universal potential (Yang et al. 2024); needs pip install mattersim and "
                   "the checkpoint in <cache>/models/mattersim/ (nothing is downloaded)",
                   family="potentials",
                   card=ModelCard(name="MatterSim v1.0.0-1M", version="1.0.0", authors=("H. Yang", "et al."),
                                  license="MIT", doi="10.48550/arXiv.2405.04967",
                                  code_url="https://github.com/microsoft/mattersim",
                                  training_data=("MatterSim training set",),
                                  notes="trained on a closed set whose structures include Materials Project and "
                                        "Alexandria ones (Yang et al. 2024)")),
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
