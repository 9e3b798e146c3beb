"""MLflow Model Registry operations: versions, aliases, champion history, clear errors."""

from __future__ import annotations

import json
import logging
from typing import Any

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import get_model_info

from mlgate.adapters.evaluation import evaluate_elsewhere
from mlgate.base.errors import DataError, MlgateError
from mlgate.core.gate import ChampionScore

log = logging.getLogger(__name__)

HISTORY_LIMIT = 200
DESCRIPTION_LIMIT = 5000  # characters the registry stores in a version's description


def client() -> Any:
    """An MlflowClient on the configured tracking/registry URI."""
    return MlflowClient()


def _missing(exc: Exception) -> bool:
    """True when an MlflowException says the model, version or alias does not exist."""
    return "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or \
        "not found" in str(exc).lower()


def get_model(name: str) -> Any:
    """The registered model `name`, or MlgateError naming it and the store."""
    try:
        return client().get_registered_model(name)
    except MlflowException as exc:
        if _missing(exc):
            raise MlgateError(f"registered model {name!r} not found in "
                              f"{mlflow.get_registry_uri()}") from exc
        raise


def get_version(name: str, version: str) -> Any:
    """One version of `name`, or MlgateError naming the version and the existing ones."""
    get_model(name)
    if not str(version).isdigit():
        raise MlgateError(f"model version must be a number, got {version!r}")
    try:
        return client().get_model_version(name, str(version))
    except MlflowException as exc:
        if _missing(exc):
            known = ", ".join(str(v.version) for v in list_versions(name)) or "none"
            raise MlgateError(f"version {version} of {name!r} not found "
                              f"(versions: {known})") from exc
        raise


def list_versions(name: str) -> list[Any]:
    """Every version of `name`, newest first (MlgateError if the model does not exist)."""
    get_model(name)
    found = client().search_model_versions(f"name = '{name}'")
    return sorted(found, key=lambda v: int(v.version), reverse=True)


def current_version(model_name: str, alias: str) -> Any | None:
    """The model version holding `alias`, or None when the model or alias does not exist."""
    try:
        return client().get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        if _missing(exc):
            return None
        raise


def require_alias(model_name: str, alias: str) -> Any:
    """The version holding `alias`, or MlgateError naming the alias and the model."""
    get_model(model_name)
    mv = current_version(model_name, alias)
    if mv is None:
        raise MlgateError(f"registered model {model_name!r} has no alias {alias!r}")
    return mv


def load_version(model_name: str, version: str) -> Any:
    """Load a registered version with its sklearn flavor (keeps predict_proba)."""
    return mlflow.sklearn.load_model(f"models:/{model_name}/{version}")


def champion_score(model_name: str, alias: str, test: Any, target: str,
                   task: str = "classification", labels: list[Any] | None = None
                   ) -> ChampionScore | None:
    """The model holding `alias` evaluated by MLflow on `test` (a DataFrame or an MLflow
    dataset) in its own run, nested under the active one; None when there is no such model."""
    current = current_version(model_name, alias)
    if current is None:
        return None
    version = str(current.version)
    log.info("evaluating %s (%s v%s) on the same test data", alias, model_name, version)
    try:
        return ChampionScore(version, evaluate_elsewhere(
            f"models:/{model_name}/{version}", test, target, task, labels,
            f"{alias} v{version} on this test set"))
    except Exception as exc:  # a champion that cannot be loaded or scored here is not compared
        log.warning("%s v%s could not be evaluated: %s", model_name, version, exc)
        return ChampionScore(version, None, f"{type(exc).__name__}: {exc}"[:500])


def set_description(model_name: str, version: str, text: str) -> None:
    """Write the version's description (the model card the gate writes)."""
    client().update_model_version(model_name, version, description=text[:DESCRIPTION_LIMIT])


def register_version(model_uri: str, model_name: str, tags: dict[str, str]) -> str:
    """Register `model_uri` as a new version of `model_name` with `tags`; return the version."""
    mv = mlflow.register_model(model_uri, model_name, tags=tags)
    log.info("registered %s version %s", model_name, mv.version)
    return str(mv.version)


def validated_version(model_name: str, model_uri: str) -> str | None:
    """The version already registered from `model_uri` that passed the gate, if any."""
    found = [v for v in client().search_model_versions(f"name='{model_name}'")
             if v.source == model_uri and v.tags.get("validation_status") == "passed"]
    return str(min(int(v.version) for v in found)) if found else None


def versions_with_status(model_name: str, statuses: tuple[str, ...]) -> list[Any]:
    """Versions of `model_name` whose `validation_status` tag is one of `statuses`, oldest first."""
    found = [v for v in client().search_model_versions(f"name='{model_name}'")
             if v.tags.get("validation_status") in statuses]
    return sorted(found, key=lambda v: int(v.version))


def set_version_tags(model_name: str, version: str, tags: dict[str, str]) -> None:
    """Set (overwrite) tags on one model version."""
    c = client()
    for key, value in tags.items():
        c.set_model_version_tag(model_name, version, key, value)


def history_tag(alias: str) -> str:
    """The registered-model tag holding the sequence of versions that held `alias`."""
    return f"{alias}_history"


def history(model_name: str, alias: str) -> list[str]:
    """Versions that held `alias`, oldest first (from the registered model's tags)."""
    raw = get_model(model_name).tags.get(history_tag(alias))
    try:
        return [str(v) for v in json.loads(raw)] if raw else []
    except (TypeError, ValueError) as exc:
        raise MlgateError(f"registered model {model_name!r}: tag {history_tag(alias)!r} is not "
                          f"a JSON list: {raw!r}") from exc


def _save_history(model_name: str, alias: str, versions: list[str]) -> None:
    """Store the alias history (newest last, at most HISTORY_LIMIT entries)."""
    client().set_registered_model_tag(model_name, history_tag(alias),
                                      json.dumps(versions[-HISTORY_LIMIT:]))


def set_champion(model_name: str, version: str, alias: str, challenger_alias: str) -> None:
    """Point `alias` at `version`, record it in the history, drop its challenger alias."""
    c = client()
    before = current_version(model_name, alias)
    past = history(model_name, alias)
    if before is not None and (not past or past[-1] != str(before.version)):
        past.append(str(before.version))  # alias moved outside mlgate: keep the chain intact
    c.set_registered_model_alias(model_name, alias, version)
    if past[-1:] != [str(version)]:
        _save_history(model_name, alias, [*past, str(version)])
    challenger = current_version(model_name, challenger_alias)
    if challenger is not None and str(challenger.version) == str(version):
        c.delete_registered_model_alias(model_name, challenger_alias)
    log.info("%s v%s is now @%s", model_name, version, alias)


def set_alias(model_name: str, version: str, alias: str) -> None:
    """Point `alias` at `version` (no history)."""
    client().set_registered_model_alias(model_name, alias, version)
    log.info("%s v%s is now @%s", model_name, version, alias)


def rollback(model_name: str, alias: str) -> tuple[str, str]:
    """Move `alias` back to the version that held it before; return (from, to)."""
    current = str(require_alias(model_name, alias).version)
    past = history(model_name, alias)
    if not past or past[-1] != current:
        past.append(current)
    while len(past) > 1 and past[-1] == current:
        past.pop()
    if not past or past[-1] == current:
        raise MlgateError(f"{model_name!r}: no previous {alias} to roll back to "
                          f"(history: {history(model_name, alias) or [current]})")
    previous = past[-1]
    get_version(model_name, previous)
    client().set_registered_model_alias(model_name, alias, previous)
    _save_history(model_name, alias, past)
    log.info("%s @%s rolled back from v%s to v%s", model_name, alias, current, previous)
    return current, previous


def logged_model_meta(model_uri: str) -> tuple[bool, bool]:
    """(has signature, has input example) of the logged model in models/run.json."""
    try:
        info = get_model_info(model_uri)
    except Exception as exc:  # MlflowException, OSError: the artifact cannot be read
        raise DataError(f"models/run.json: model_uri {model_uri!r} cannot be read from the "
                        f"MLflow store: {exc}") from exc
    return info.signature is not None, info.saved_input_example_info is not None
