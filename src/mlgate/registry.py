"""MLflow Model Registry operations used by the register stage."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def current_version(model_name: str, alias: str) -> Any | None:
    """The model version holding `alias`, or None when the model or alias does not exist."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return MlflowClient().get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc).lower():
            return None
        raise


def load_version(model_name: str, version: str) -> Any:
    """Load a registered version with its sklearn flavor (keeps predict_proba)."""
    import mlflow.sklearn

    return mlflow.sklearn.load_model(f"models:/{model_name}/{version}")


def register(model_uri: str, model_name: str, alias: str, tags: dict[str, str]) -> str:
    """Register `model_uri` as a new version, tag it, point `alias` at it; return the version."""
    import mlflow
    from mlflow import MlflowClient

    mv = mlflow.register_model(model_uri, model_name, tags=tags)
    MlflowClient().set_registered_model_alias(model_name, alias, mv.version)
    log.info("registered %s version %s with alias %r", model_name, mv.version, alias)
    return str(mv.version)


def champion_metrics(model_name: str, alias: str, test: Any, target: str
                     ) -> tuple[str | None, dict[str, float] | None]:
    """(version, test metrics) of the model holding `alias`, scored on `test`; or (None, None)."""
    from mlgate.evaluation import evaluate

    current = current_version(model_name, alias)
    if current is None:
        return None, None
    log.info("scoring current %s (%s v%s) on the same test data", alias, model_name,
             current.version)
    return str(current.version), evaluate(load_version(model_name, current.version), test,
                                          target)["metrics"]
