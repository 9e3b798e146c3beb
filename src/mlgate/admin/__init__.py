"""Server administration at the edge: the shared PostgreSQL + MLflow tracking server
(`mlgate server`). Imports base and adapters."""
