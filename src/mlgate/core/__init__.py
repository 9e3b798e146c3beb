"""Pure core: the rules of the pipeline (ingest, validation, split, evaluation, the gate and
drift policies, batch checks, onboarding). Imports only mlgate.base; no MLflow, no processes."""
