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
GATE = Path("reports/gate.json")
DRIFT_HTML = Path("reports/drift.html")
DRIFT_JSON = Path("reports/drift.json")
