"""Your own data, binary and multiclass: `mlgate data add` + `dvc exp run -S data=<name>`."""

import json

import pandas as pd
import pytest

from tests.e2e.conftest import BIN, Repo, check_champion_and_selection, onboard_and_run
from tests.tables import breast_cancer, wine

pytestmark = pytest.mark.e2e


@pytest.mark.slow  # binary 0/1 labels: RAND HIE's own target, and churn's yes/no, in make test
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
    # A second experiment that is not better becomes the challenger; its own score stage
    # scores the batch with it in the shadow (the answers written stay the champion's).
    champion = out["gate"]["registered_version"]
    repo.dvc("exp", "run", "-S", "data=wine", "-S", "train.estimators=[nb]",
             "-S", "gate.improvement.min_delta=0.5")  # no model beats the champion by 0.5
    gate = json.loads((repo.path / "reports/gate.json").read_text())
    assert (gate["decision"], gate["alias"]) == ("challenger", "challenger"), gate["reasons"]
    score = json.loads((repo.path / "reports/score.json").read_text())
    shadow = score["shadow"]
    assert score["model_version"] == champion and shadow["champion_version"] == champion
    assert shadow["challenger_version"] == gate["registered_version"]
    assert 0.5 < shadow["agreement"] <= 1.0 and shadow["rows"] == score["n_rows"]
    assert set(shadow["shift"]) == {"ks", "class_share_change"}
    assert shadow["labelled_rows"] == score["n_rows"]  # the current batch has its labels
    assert set(shadow["metrics"]["challenger"]) == {"accuracy"}  # three classes: no AUC
    scored = pd.read_parquet(repo.path / "data/predictions/current.parquet")
    assert scored["model_uri"].eq(f"models:/mlgate-wine/{champion}").all()
    promote = repo.run(str(BIN / "mlgate"), "models", "promote", gate["registered_version"],
                       check=False)
    said = promote.stdout + promote.stderr
    assert (f"shadow evidence of v{gate['registered_version']} against champion v{champion}: "
            f"1 batch(es), {score['n_rows']} rows") in said
    worse = (shadow["metrics"]["champion"]["accuracy"]
             - shadow["metrics"]["challenger"]["accuracy"]) > 0.02
    assert (promote.returncode == 1) == worse and "Traceback" not in said, said
