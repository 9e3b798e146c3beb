"""Config: every group composes, params.yaml is in sync, dvc.yaml matches params and code."""

from pathlib import Path

import pytest
import yaml

from mlgate.adapters.compose import compose
from mlgate.core.drift import DriftConfig
from mlgate.core.gate import GateConfig
from mlgate.core.scoring import ScoreConfig
from mlgate.core.split import SplitConfig
from mlgate.core.validation import Schema
from mlgate.engines.training import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
GROUPS = sorted(p.name for p in (ROOT / "conf").iterdir() if p.is_dir() and any(p.glob("*.yaml")))


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))


def test_committed_params_match_composed_conf(params):
    composed = compose(ROOT)
    assert composed == params, (
        "params.yaml differs from what conf/ composes to: run `make params` and commit both")


def test_required_groups_exist():
    assert {"data", "task", "train", "gate", "drift", "tracking"} <= set(GROUPS)


@pytest.mark.parametrize(("group", "option"),
                         [(g, o) for g in GROUPS for o in options(g)])
def test_every_group_option_composes_into_valid_stage_configs(group, option):
    p = compose(ROOT, [f"{group}={option}"])
    assert {"task", "data", "validate", "split", "train", "gate", "drift", "tracking"} <= set(p)
    Schema.from_params(p["data"]["target"], p["validate"])
    SplitConfig.from_params(p["split"])
    TrainConfig.from_params(p["data"], p["train"], p["task"]["type"])
    GateConfig.from_params(p["gate"])
    DriftConfig.from_params(p["drift"])
    ScoreConfig.from_params(p["score"])


def test_conf_has_no_runtime_interpolations():
    for path in (ROOT / "conf").rglob("*.yaml"):
        text = path.read_text()
        for bad in ("${oc.env:", "${now:", "${hydra:"):
            assert bad not in text, f"{path}: {bad} makes params.yaml non-reproducible"


def _lookup(params: dict, dotted: str) -> bool:
    node = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_dvc_stages_use_existing_params_scripts_and_deps(params):
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    outs = {next(iter(o)) if isinstance(o, dict) else o
            for s in stages.values() for key in ("outs", "metrics", "plots")
            for o in s.get(key, [])}
    for name, stage in stages.items():
        assert stage["cmd"] == f"python -m mlgate.supervise.launch stages/{name}.py"
        assert f"stages/{name}.py" in stage["deps"]
        for key in stage.get("params", []):
            assert _lookup(params, key), f"stage {name}: param {key} not in params.yaml"
        for dep in stage["deps"]:
            assert dep in outs or (ROOT / dep).exists(), f"stage {name}: dep {dep} missing"


@pytest.mark.parametrize(("task", "target", "metric", "model"), [
    ("classification", "binexp", "roc_auc", "mlgate-randhie"),
    ("regression", "lnmeddol", "rmse", "mlgate-randhie-spend"),
])
def test_task_switches_target_leakage_sort_and_gate(task, target, metric, model):
    p = compose(ROOT, [f"task={task}"])
    assert p["data"]["target"] == target and target not in p["data"]["drop_columns"]
    other = {"binexp", "lnmeddol"} - {target}
    assert other <= set(p["data"]["drop_columns"]), "the other task's target leaks"
    assert p["train"]["sort"] == p["task"]["sort"]
    assert p["gate"]["model_name"] == model and metric in p["gate"]["improvement"]["metric"]


@pytest.mark.parametrize("option", options("gate"))
def test_gate_groups_hold_policy_only(option):
    """What is about one table comes from its data profile, never from conf/gate/."""
    spec = yaml.safe_load((ROOT / "conf/gate" / f"{option}.yaml").read_text())
    assert spec["model_name"] is None and spec["thresholds"] == {} and spec["slices"] == {}
    assert spec["baseline"], "a policy that means the same on any table"


def test_drift_group_holds_policy_only():
    spec = yaml.safe_load((ROOT / "conf/drift/default.yaml").read_text())
    assert spec["per_column"] == {} and spec["retrain"] == {"overrides": []}


def test_randhie_profile_keeps_its_gate_and_drift_settings():
    p = compose(ROOT)
    assert p["gate"]["slices"] == {"female": {"roc_auc": {"min": 0.6}},
                                   "site": {"roc_auc": {"min": 0.6}}}
    assert p["gate"]["thresholds"] == {"roc_auc": {"min": 0.65}, "log_loss": {"max": 0.6},
                                       "recall": {"min": 0.5}}
    assert DriftConfig.from_params(p["drift"]).important == ["income", "xage", "plan"]
    assert p["drift"]["retrain"]["overrides"] == ["split.current='year >= 5'"]
    regression = compose(ROOT, ["task=regression"])["gate"]
    assert regression["thresholds"] == {"r2": {"min": 0.1}, "rmse": {"max": 1.5}}
    assert regression["slices"] == {} and regression["baseline"] == {"rmse": {
        "min_relative": 0.05}}


def test_slices_are_cleared_with_null_not_with_an_empty_mapping():
    assert GateConfig.from_params(compose(ROOT, ["gate.slices=null"])["gate"]).slices == ()
    one = GateConfig.from_params(compose(ROOT, ["gate.slices.site=null"])["gate"])
    assert [s.column for s in one.slices] == ["female"]
    merged = compose(ROOT, ["gate.slices={}"])["gate"]["slices"]
    assert set(merged) == {"female", "site"}, "Hydra merges a mapping: documented in README"
