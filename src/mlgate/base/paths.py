"""Every file the pipeline reads or writes, relative to the stage's working directory."""

from pathlib import Path

RAW = Path("data/raw/dataset.parquet")
TRAIN = Path("data/processed/train.parquet")
TEST = Path("data/processed/test.parquet")
CURRENT = Path("data/processed/current.parquet")
MODEL = Path("models/model.pkl")
RUN = Path("models/run.json")
VALIDATION = Path("reports/validation.json")
LEADERBOARD = Path("reports/leaderboard.csv")
TRAIN_REPORT = Path("reports/train.json")
METRICS = Path("reports/metrics.json")
ROC = Path("reports/plots/roc.json")
PR = Path("reports/plots/pr.json")
CONFUSION = Path("reports/plots/confusion.csv")
IMPORTANCE = Path("reports/plots/feature_importance.json")  # mean |SHAP| per feature
EXPLAIN = Path("reports/explain.json")
PREDICTIONS_PLOT = Path("reports/plots/predictions.json")
PLOTS = Path("reports/plots")
FIGURES = Path("reports/figures")
GATE = Path("reports/gate.json")
DRIFT_HTML = Path("reports/drift.html")
DRIFT_JSON = Path("reports/drift.json")
# Relative to the repository root (DVC_ROOT in queued experiments), not the working directory:
# serializes registry writes of parallel pipelines (.dvc/tmp is git-ignored by DVC).
REGISTRY_LOCK = Path(".dvc/tmp/mlgate-registry.lock")
SCORED = Path("data/predictions/current.parquet")
SCORED_REFERENCE = Path("data/predictions/reference.parquet")
PROFILE = Path("data/predictions/profile.json")
SCORE_REPORT = Path("reports/score.json")
# Declared features (conf `features`): mapping tables for lookups, and the package holding
# `features.custom` functions. Both are deps of train in dvc.yaml: a change reruns training.
MAPPINGS = Path("data/mappings")
FEATURE_CODE = Path("features")
# Batches `mlgate watch` folded into the model data (each `dvc add`-ed, its .dvc file staged in
# git); ingest reads them together with data.source. A dep of ingest in dvc.yaml.
DELIVERED = Path("data/delivered")
# Relative to the repository root, like REGISTRY_LOCK: one writer of the monitoring workspace.
MONITOR_LOCK = Path(".dvc/tmp/mlgate-monitor.lock")
