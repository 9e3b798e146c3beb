"""Stage register: the gate; only a model that passes every declared check is registered.

The dvc.yaml cmd runs this file; the stage is mlgate.pipeline.register.run.
"""

from mlgate.pipeline.register import run
from mlgate.pipeline.stage import stage_main

if __name__ == "__main__":
    stage_main("register", run)
