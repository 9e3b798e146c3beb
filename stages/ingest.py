"""Stage ingest: read `data.source`, drop leakage columns, write data/raw/dataset.parquet.

The dvc.yaml cmd runs this file; the stage is mlgate.pipeline.ingest.run.
"""

from mlgate.pipeline.ingest import run
from mlgate.pipeline.stage import stage_main

if __name__ == "__main__":
    stage_main("ingest", run)
