"""Stage score: check the current batch, score it and the reference with the champion.

The dvc.yaml cmd runs this file; the stage is mlgate.pipeline.score.run.
"""

from mlgate.pipeline.score import run
from mlgate.pipeline.stage import stage_main

if __name__ == "__main__":
    stage_main("score", run)
