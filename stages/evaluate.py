"""Stage evaluate: test metrics, plot data (DVC plots) and PNG figures (DVC + MLflow).

The dvc.yaml cmd runs this file; the stage is mlgate.pipeline.evaluate.run.
"""

from mlgate.pipeline.evaluate import run
from mlgate.pipeline.stage import stage_main

if __name__ == "__main__":
    stage_main("evaluate", run)
