"""Phonons: density of states, dispersion and heat capacity, from a direct model or a potential."""

from matscibench.families.base import CostColumn, Family
from matscibench.models.phonons import MODEL_ENTRIES

FAMILY = Family(
    name="phonons",
    title="Phonons",
    tasks="matscibench.tasks.phonon",
    datasets="matscibench.data.phonon_data",
    metrics="matscibench.metrics.phonon",
    models=tuple(MODEL_ENTRIES),
    cost_columns=(
        (CostColumn("phonons.s_per_structure", "phonon calculation per structure (s)", "time", "phonons per structure (s)"),
         "predict.wall_s"),
        (CostColumn("phonons.force_calls_per_structure", "force calls per structure", "cost", ""), "phonons.s_per_structure"),
        (CostColumn("phonons.supercell_atoms", "supercell size (atoms)", "cost", ""), "phonons.force_calls_per_structure"),
        (CostColumn("phonons.ms_per_force_call", "force call on a supercell (ms)", "time", ""), "phonons.supercell_atoms"),
    ),
    default_timeout_s=12 * 3600.0,
)
