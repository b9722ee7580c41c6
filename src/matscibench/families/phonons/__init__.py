"""Phonons: density of states, dispersion and heat capacity, from a direct model or a potential."""

from matscibench.families.base import CostColumn, Family
from matscibench.models.base import ModelCard, ModelEntry

FAMILY = Family(
    name="phonons",
    title="Phonons",
    tasks="matscibench.families.phonons.task",
    datasets="matscibench.families.phonons.data",
    metrics="matscibench.families.phonons.metrics",
    models=(
        ModelEntry("dos_mean", "matscibench.families.phonons.models:DosRegressor", {"estimator": "mean"},
                   "training-mean phonon DOS (the floor of the direct route)", family="phonons"),
        ModelEntry("dos_extratrees", "matscibench.families.phonons.models:DosRegressor",
                   {"featurizer": "magpie+sitestats", "estimator": "extra_trees", "n_components": 16},
                   "Magpie + structure descriptors -> extra trees on 16 principal components of the DOS", family="phonons"),
        ModelEntry("dos_knn", "matscibench.families.phonons.models:DosRegressor",
                   {"featurizer": "magpie+sitestats", "estimator": "knn", "n_components": None},
                   "Magpie + structure descriptors (standardised) -> distance-weighted 5-NN average of training DOS",
                   family="phonons"),
        ModelEntry("e3nn_dos", "matscibench.families.phonons.models:E3nnDos", {},
                   "E(3)-equivariant graph network (e3nn) from structure to DOS, after Chen et al., Adv. Sci. 2021; reports "
                   "validation DOS MSE per epoch", family="phonons", card=ModelCard(doi="10.1002/advs.202004214")),
    ),
    cost_columns=(
        (CostColumn("phonons.s_per_structure", "phonon calculation per structure (s)", "time", "phonons per structure (s)"),
         "predict.wall_s"),
        (CostColumn("phonons.force_calls_per_structure", "force calls per structure", "cost", ""), "phonons.s_per_structure"),
        (CostColumn("phonons.supercell_atoms", "supercell size (atoms)", "cost", ""), "phonons.force_calls_per_structure"),
        (CostColumn("phonons.ms_per_force_call", "force call on a supercell (ms)", "time", ""), "phonons.supercell_atoms"),
    ),
    default_timeout_s=12 * 3600.0,
)
