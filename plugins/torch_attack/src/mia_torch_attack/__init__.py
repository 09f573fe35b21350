"""PyTorch membership-inference attacks for mia-core."""
