"""Tasks: data + fixed folds + metrics, one module per family."""
