"""Stage register: the gate. Only a model that passes every declared check is registered."""

import logging

import mlflow

from mlgate import paths
from mlgate.gate import GateConfig, decide, gate_report, version_tags
from mlgate.io import read_json, read_table, write_json
from mlgate.params import require
from mlgate.registry import champion_metrics, register
from mlgate.stage import stage_main
from mlgate.tracking import dvc_tags, pipeline_run

log = logging.getLogger("mlgate.register")


def main(params: dict) -> None:
    """Decide, register on pass, and write reports/gate.json."""
    cfg = GateConfig.from_params(require(params, "gate"))
    metrics, run_info = read_json(paths.METRICS), read_json(paths.RUN)
    with pipeline_run(require(params, "tracking"), "register", run_info):
        champion = champion_metrics(cfg.model_name, cfg.alias, read_table(paths.TEST),
                                    require(params, "data.target"))
        decision = decide(metrics, champion[1], cfg)
        version = None
        if decision.passed:
            tags = {**version_tags(decision, metrics, run_info["run_id"]), **dvc_tags("register")}
            version = register(run_info["model_uri"], cfg.model_name, cfg.alias, tags)
        report = gate_report(decision, cfg, metrics, champion, version, run_info["run_id"])
        mlflow.log_dict(report, "gate.json")
        mlflow.set_tag("mlgate.gate", report["decision"])
    write_json(paths.GATE, report)
    log.info("gate %s%s", report["decision"], "" if decision.passed else
             ": " + "; ".join(decision.reasons))


if __name__ == "__main__":
    stage_main("register", main)
