"""Components that ship with the core, loaded by module path like any plugin.

Each module in :data:`DEFAULT_PLUGINS` is registered as a plugin of its own (named by its last
path part), so it is listed, described and blockable (``-p no:local_executor``) like an
installed one, through the same loading code.
"""

DEFAULT_PLUGINS = (
    "mia_core.default_plugins.json_reporter",
    "mia_core.default_plugins.local_executor",
    "mia_core.default_plugins.python_target",
    "mia_core.default_plugins.tensor_file",
    "mia_core.default_plugins.torchscript_target",
)

# components of this repository's optional distributions: where to get them when missing
ELSEWHERE = {
    ("executor", "ray"): "the optional distribution mia-ray-executor "
                         "(pip install -e plugins/ray_executor)",
    ("reporter", "mlflow"): "the optional distribution mia-mlflow-tracking "
                            "(pip install -e plugins/mlflow_tracking)",
}
