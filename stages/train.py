"""Stage train: PyCaret CV of each candidate (MLflow child runs), tune, finalize, log model.

The dvc.yaml cmd runs this file; the stage is mlgate.pipeline.train.run.
"""

from mlgate.pipeline.stage import stage_main
from mlgate.pipeline.train import run

if __name__ == "__main__":
    stage_main("train", run)
