"""Adapters to the outside world: MLflow tracking and registry, promotion, the smoke test,
locks, processes, Hydra composition, the serving process. Import base, core and engines."""
