"""The wrn (Wide ResNet) target for mia-core."""
