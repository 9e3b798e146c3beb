"""Your own data, binary and multiclass: `mlgate data add` + `dvc exp run -S data=<name>`."""

import pytest

from tests.e2e.conftest import Repo, check_champion_and_selection, onboard_and_run
from tests.tables import breast_cancer, wine

pytestmark = pytest.mark.e2e


def test_binary_with_0_1_labels(repo: Repo):
    out = onboard_and_run(repo, "breast_cancer", breast_cancer(), "target")
    assert out["params"]["task"]["sort"] == "AUC" and out["params"]["data"]["target"] == "target"
    check_champion_and_selection(out, "breast_cancer", "AUC", "Accuracy")
    assert out["metrics"]["roc_auc"] > 0.95
    checks = {c["name"] for c in out["gate"]["checks"]}
    assert {"baseline.balanced_accuracy", "baseline.log_loss_relative"} <= checks


def test_multiclass_with_string_labels(repo: Repo):
    out = onboard_and_run(repo, "wine", wine(), "cultivar")
    assert "task:        multiclass (3 classes)" in out["added"]
    assert out["params"]["task"]["sort"] == "MCC"
    check_champion_and_selection(out, "wine", "MCC", "Accuracy")
    assert (out["leaderboard"]["AUC"] > 0.5).all(), "no AUC recorded as 0.0"
    assert out["metrics"]["accuracy"] > 0.85
    assert set(out["score"]["prediction_share"]) <= {"barolo", "grignolino", "barbera"}
    # explained per class, under the string labels, each feature's classes summing to its total
    explain = out["explain"]
    assert explain["classes"] == ["barbera", "barolo", "grignolino"]
    top = explain["features"][0]
    assert set(top["by_class"]) == set(explain["classes"])
    assert sum(top["by_class"].values()) == pytest.approx(top["mean_abs_shap"], abs=1e-5)
