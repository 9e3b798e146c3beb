"""The `mlgate` command line, one module per command group. The top of the stack."""
