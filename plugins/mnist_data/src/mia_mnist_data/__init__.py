"""MNIST for mia-core."""
