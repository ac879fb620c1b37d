"""Handlers of the `linkage-hub` command line, one module per command group."""
