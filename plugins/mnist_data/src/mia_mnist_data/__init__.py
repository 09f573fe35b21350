"""MNIST and Fashion-MNIST for mia-core."""
