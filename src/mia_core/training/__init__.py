"""Training models: recipes, the fit loop, DP-SGD, batched training, the model cache, executors."""
