"""Models: the contracts a model author implements, baselines, and the model registry."""
