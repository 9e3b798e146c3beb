"""mlgate: reproducible, declarative ML pipelines with a registration gate."""

import os

__version__ = "0.1.0"

# PyCaret opens ./logs.log at import time (and on unpickling a pipeline) unless told otherwise;
# pipeline outputs must be exactly what dvc.yaml declares, so send it nowhere by default.
os.environ.setdefault("PYCARET_CUSTOM_LOGGING_PATH", os.devnull)
