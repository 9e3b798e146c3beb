"""The pipeline: one module per dvc.yaml stage, each with a `run(params)` function, plus the
stage runner and the run summary. Imports every layer below it."""
