"""Stage validate: check the raw dataset against the declared schema; fail naming every rule.

The dvc.yaml cmd runs this file; the stage is mlgate.pipeline.validate.run.
"""

from mlgate.pipeline.stage import stage_main
from mlgate.pipeline.validate import run

if __name__ == "__main__":
    stage_main("validate", run)
