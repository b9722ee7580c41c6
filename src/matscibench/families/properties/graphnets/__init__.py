"""Crystal graph networks of the crystal-property family: CGCNN, MEGNet, ALIGNN (ours, on PyTorch
Geometric, one shared trainer) and adapters for the upstream packages where they install.

``base.py`` the trainer (``CrystalGraphModel``) and batching; ``layers.py`` the torch networks;
``models.py`` the estimators registered as ``cgcnn``, ``megnet``, ``alignn``. Graphs come from
``matscibench.featurizers.crystal_graph``. Nothing here imports torch until a model is built.
"""
