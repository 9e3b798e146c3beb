"""Config defaults for tests, taken from conf/ (never written a second time in a test).

A test that needs a section with a few keys of its own takes the policy group's defaults
(conf/<group>/default.yaml; tracking: conf/tracking/local.yaml) and puts its keys over them.
A key the test gives replaces the default, except in the fixed-key blocks (STRUCTURED), where
the test's keys are merged in: `{"tune": {"enabled": True}}` keeps tune's other defaults,
while `{"baseline": {}}` means no baseline margins at all. Values the group file interpolates
(`train.estimators: ${task.estimators}`) come from composing conf/ as `dvc exp run` does.
"""

from __future__ import annotations

import copy
import dataclasses
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from mlgate.adapters.compose import compose
from mlgate.admin.server import ServerConfig
from mlgate.core.drift import DriftConfig
from mlgate.core.gate import GateConfig
from mlgate.core.scoring import ScoreConfig, SparkConfig
from mlgate.core.split import SplitConfig
from mlgate.core.validation import Schema
from mlgate.engines.training import DaskConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[1]
GROUP_FILE = {"tracking": "tracking/local.yaml", "tracking_server": "tracking/server.yaml"}
# conf/gate/default.yaml's baseline margins and latency budget switched off, for gate tests
# about other checks that build their candidate's evidence without either.
NO_BASELINE_NOR_LATENCY = {"baseline": {}, "latency": {"max_ms_per_1000_rows": None}}
STRUCTURED = {("train", "tune"), ("train", "dask"), ("score", "spark"), ("gate", "improvement"),
              ("gate", "latency"), ("drift", "retrain"),
              ("tracking_server", "server")}


@cache
def composed() -> dict[str, Any]:
    """params.yaml as `dvc exp run` composes it from conf/ with no overrides."""
    return compose(ROOT)


def policy(name: str) -> dict[str, Any]:
    """The defaults of one section: its group's default file, interpolations resolved.
    `score.spark` is a block of `score`; `tracking_server` is the tracking=server option."""
    if "." in name:
        group, block = name.split(".", 1)
        return policy(group)[block]
    raw = yaml.safe_load((ROOT / "conf" / GROUP_FILE.get(name, f"{name}/default.yaml"))
                         .read_text(encoding="utf-8"))
    resolved = composed().get(name, {})
    return {k: resolved[k] if isinstance(v, str) and "${" in v else v for k, v in raw.items()}


def conf_section(name: str, over: dict[str, Any] | None = None) -> dict[str, Any]:
    """Section `name` of params.yaml: conf/'s defaults with the keys of `over` put over them."""
    out = copy.deepcopy(policy(name))
    for key, value in (over or {}).items():
        if (name, key) in STRUCTURED and isinstance(value, dict):
            out[key] = {**out[key], **copy.deepcopy(value)}
        else:
            out[key] = copy.deepcopy(value)
    return out


def from_conf(cls: Any, name: str, **fields: Any) -> Any:
    """`cls` built from conf/'s `name` section, then the given fields replaced."""
    return dataclasses.replace(cls.from_params(conf_section(name)), **fields)


# Each section's config class built from conf/'s defaults with the test's keys over them.
def split_config(over: dict[str, Any] | None = None) -> Any:
    """SplitConfig from conf/split/default.yaml + `over`."""
    return SplitConfig.from_params(conf_section("split", over))


def schema_config(target: str, over: dict[str, Any] | None = None) -> Any:
    """Schema from conf/validate/default.yaml + `over`."""
    return Schema.from_params(target, conf_section("validate", over))


def train_config(data: dict[str, Any], over: dict[str, Any] | None = None,
                 task: str = "classification") -> Any:
    """TrainConfig from conf/train/default.yaml + `over` (the test names its task)."""
    return TrainConfig.from_params(data, conf_section("train", over), task)


def gate_config(over: dict[str, Any] | None = None) -> Any:
    """GateConfig from conf/gate/default.yaml + `over`."""
    return GateConfig.from_params(conf_section("gate", over))


def drift_config(over: dict[str, Any] | None = None) -> Any:
    """DriftConfig from conf/drift/default.yaml + `over`."""
    return DriftConfig.from_params(conf_section("drift", over))


def score_config(over: dict[str, Any] | None = None) -> Any:
    """ScoreConfig from conf/score/default.yaml + `over`."""
    return ScoreConfig.from_params(conf_section("score", over))


def spark_config(over: dict[str, Any] | None = None) -> Any:
    """SparkConfig from conf/score/default.yaml's `spark` block + `over`."""
    return SparkConfig.from_params(conf_section("score.spark", over))


def server_config(over: dict[str, Any] | None, root: Path) -> Any:
    """ServerConfig from conf/tracking/server.yaml + `over`, anchored at `root`."""
    return ServerConfig.from_params(conf_section("tracking_server", over), root)


def drift_with(**fields: Any) -> Any:
    """conf/'s DriftConfig with `fields` replaced (they may be ColumnRule objects)."""
    return dataclasses.replace(drift_config(), **fields)


def score_with(**fields: Any) -> Any:
    """conf/'s ScoreConfig with `fields` replaced."""
    return dataclasses.replace(score_config(), **fields)


def dask_with(**fields: Any) -> Any:
    """conf/'s DaskConfig (train.dask) with `fields` replaced."""
    return dataclasses.replace(DaskConfig.from_params(conf_section("train")["dask"]), **fields)
