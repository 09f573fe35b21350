"""Components that ship with the core, loaded by module path like any plugin."""
