"""The ``ray`` executor for mia-core: reference models as Ray tasks."""

from .plugin import RayExecutor, RayOptions, local_instance, register_executors

__all__ = ["RayExecutor", "RayOptions", "local_instance", "register_executors"]
