"""Engines that do the heavy computing: PyCaret training, Dask cross-validation, Spark scoring.
Import mlgate.base and mlgate.core."""
