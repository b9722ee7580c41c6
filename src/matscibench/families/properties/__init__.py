"""Crystal properties: formation energy, band gap, moduli, metal/non-metal (matbench v0.1, EMT alloys, Perov-5)."""

from matscibench.families.base import Family
from matscibench.models.base import ModelEntry

FAMILY = Family(
    name="properties",
    title="Crystal properties",
    tasks="matscibench.families.properties.task",
    datasets="matscibench.families.properties.data",
    metrics="matscibench.metrics.classification",
    models=(
        ModelEntry("dummy", "matscibench.models.dummy:DummyModel", {}, "training mean (regression) / majority class"),
        ModelEntry(
            "dummy_stratified",
            "matscibench.models.dummy:DummyModel",
            {"classifier": "stratified"},
            "matbench's Dummy: training mean (regression) / random labels drawn with the training class "
            "frequencies, seeded (scikit-learn DummyClassifier strategy='stratified')",
        ),
        ModelEntry(
            "magpie_rf",
            "matscibench.families.properties.models:FeaturizedModel",
            {"featurizer": "magpie", "estimator": "random_forest", "estimator_params": {"max_features": 1 / 3}},
            "Magpie composition statistics (132) + random forest, 100 trees, a third of the "
            "features per split (Ward et al. 2016)",
        ),
        ModelEntry(
            "rf_scm_magpie",
            "matscibench.families.properties.models:FeaturizedModel",
            {"featurizer": "magpie", "estimator": "random_forest", "estimator_params": {"n_estimators": 500},
             "imputation": "automatminer", "only_inputs": ["composition"]},
            "matbench's RF-SCM/Magpie reference as run on composition tasks: Magpie (132) + random forest, "
            "500 trees, scikit-learn's other defaults, automatminer's DataCleaner as its run script set it "
            "(sparse features mean-filled, training rows with other gaps dropped); composition tasks only (its "
            "structure tasks add Sine Coulomb Matrix features, not implemented here)",
        ),
        ModelEntry(
            "sitestats_gbm",
            "matscibench.families.properties.models:FeaturizedModel",
            {"featurizer": "magpie+sitestats", "estimator": "hist_gradient_boosting"},
            "Magpie + neighbour-list structure descriptors (38) + histogram gradient boosting, "
            "reports validation MAE every 25 rounds (time to target)",
        ),
        ModelEntry(
            "cgcnn",
            "matscibench.families.properties.graphnets.models:CGCNNModel",
            {},
            "CGCNN (Xie & Grossman 2018): PyG CGConv gated convolutions on 8 Å / 12-neighbour periodic graphs, "
            "Gaussian bond expansion, mean pooling; small CPU widths (32-d atoms, 3 convolutions, 30 epochs)",
        ),
        ModelEntry(
            "megnet",
            "matscibench.families.properties.graphnets.models:MEGNetModel",
            {},
            "MEGNet (Chen et al. 2019): blocks updating bonds, atoms and a global state, Set2Set readout, "
            "5 Å graphs; small CPU widths (2 blocks of 32/16, 30 epochs)",
        ),
        ModelEntry(
            "alignn",
            "matscibench.families.properties.graphnets.models:ALIGNNModel",
            {},
            "ALIGNN (Choudhary & DeCost 2021): edge-gated convolutions on the atom graph and its line graph "
            "(bond angles), 8 Å / 12 neighbours; small CPU widths (hidden 32, 2 + 1 layers, 30 epochs)",
        ),
        ModelEntry(
            "alignn_upstream",
            "matscibench.families.properties.graphnets.adapters:UpstreamALIGNNModel",
            {},
            "the alignn package's own DGL-free ALIGNN (ALIGNNAtomWisePure) and graphs (CGCNN atom features), "
            "trained by our shared trainer; needs pip install alignn; small CPU widths",
        ),
        ModelEntry(
            "m3gnet_matgl",
            "matscibench.families.properties.graphnets.adapters:MatglM3GNetModel",
            {},
            "matgl's M3GNet (Chen & Ong 2022, three-body interactions) as an intensive property model, trained "
            "from scratch by our shared trainer; needs pip install matgl; small CPU widths",
        ),
    ),
    default_timeout_s=3 * 3600.0,
)
