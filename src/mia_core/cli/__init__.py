"""The command line: the `mia` group, `mia-run`, config files and listings."""
