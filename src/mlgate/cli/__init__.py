"""The `mlgate` command line, one module per command group. The top of the stack.

Imports marked `# lazy` sit inside the command that needs them: the module they load imports
pandas and scikit-learn (about 1 s), Evidently (about 4.5 s) or the server administration, and
`mlgate --help`, `mlgate params` and the other light commands should not pay for that. `heavy`
means pandas + scikit-learn; `Evidently`, `Spark path` and `mlgate server only` say which.
"""
