"""Stage split: current batch by rule, then seeded stratified train/test of the model data.

The dvc.yaml cmd runs this file; the stage is mlgate.pipeline.split.run.
"""

from mlgate.pipeline.split import run
from mlgate.pipeline.stage import stage_main

if __name__ == "__main__":
    stage_main("split", run)
