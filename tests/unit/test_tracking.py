"""Tracking: the store is anchored at the repository root, never the cwd."""

from pathlib import Path

import pytest

from mlgate.errors import ConfigError
from mlgate.params import repo_root
from mlgate.tracking import artifact_location, dvc_tags, flatten, resolve_uri, tracking_uri

CFG = {"uri": "sqlite:///mlflow.db", "artifact_root": "mlartifacts", "experiment": "e"}


def test_relative_uris_anchor_at_root():
    root = Path("/repo")
    assert resolve_uri("sqlite:///mlflow.db", root) == "sqlite:////repo/mlflow.db"
    assert resolve_uri("sqlite:////abs/x.db", root) == "sqlite:////abs/x.db"
    assert resolve_uri("http://127.0.0.1:5000", root) == "http://127.0.0.1:5000"
    assert artifact_location(CFG, root) == "file:///repo/mlartifacts"


def test_dvc_root_wins_over_cwd(monkeypatch, tmp_path):
    real = tmp_path / "real"
    temp_copy = real / ".dvc" / "tmp" / "exps" / "tmp123"
    temp_copy.mkdir(parents=True)
    (temp_copy / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(temp_copy)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    assert repo_root() == temp_copy
    monkeypatch.setenv("DVC_ROOT", str(real))
    assert tracking_uri(CFG) == f"sqlite:///{real}/mlflow.db"


def test_env_uri_overrides_config(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking_uri(CFG) == "http://127.0.0.1:5999"


def test_bad_tracking_config(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ConfigError, match="tracking.url"):
        tracking_uri({"url": "x"})
    with pytest.raises(ConfigError, match="tracking.uri"):
        tracking_uri({"experiment": "x"})


def test_dvc_tags_only_where_dvc_sets_them(monkeypatch):
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    assert "dvc.exp_name" not in dvc_tags("train")
    monkeypatch.setenv("DVC_EXP_NAME", "lofty-lynx")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "abc123")
    tags = dvc_tags("drift")
    assert tags["dvc.exp_name"] == "lofty-lynx" and tags["dvc.baseline_rev"] == "abc123"
    assert tags["mlgate.stage.drift"] == "done"


def test_flatten_nested_params():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == {
        "a.b": "1", "a.c.d": "[1, 2]", "e": "{}"}
