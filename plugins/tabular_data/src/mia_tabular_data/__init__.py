"""Tabular datasets for mia-core: Purchase100, Texas100, CSV files and scikit-learn's sets."""
