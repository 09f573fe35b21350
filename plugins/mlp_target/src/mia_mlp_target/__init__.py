"""The mlp target for mia-core."""
