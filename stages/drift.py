"""Stage drift: Evidently drift of the scored current batch against the scored reference.

The dvc.yaml cmd runs this file; the stage is mlgate.pipeline.drift.run.
"""

from mlgate.pipeline.drift import run
from mlgate.pipeline.stage import stage_main

if __name__ == "__main__":
    stage_main("drift", run)
