"""Plugins: finding entry points, loading them in isolation, registries of components."""
