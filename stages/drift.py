"""Stage drift: Evidently data drift, reference = training data, current = the current batch."""

import dataclasses
import logging

import mlflow

from mlgate import paths
from mlgate.drift import DriftConfig, run_drift, save_html
from mlgate.io import read_json, read_table, write_json
from mlgate.params import require
from mlgate.stage import stage_main
from mlgate.tracking import pipeline_run

log = logging.getLogger("mlgate.drift")


def main(params: dict) -> None:
    """Write reports/drift.html and reports/drift.json and log both to the pipeline's run."""
    data = require(params, "data")
    cfg = DriftConfig.from_params(require(params, "drift"))
    cfg = dataclasses.replace(cfg, exclude=[*cfg.exclude, data["target"]],
                              categorical=[*cfg.categorical, *(data.get("categorical") or [])])
    summary, snapshot = run_drift(read_table(paths.TRAIN), read_table(paths.CURRENT), cfg)
    save_html(snapshot, paths.DRIFT_HTML)
    write_json(paths.DRIFT_JSON, summary)
    with pipeline_run(require(params, "tracking"), "drift", read_json(paths.RUN)):
        mlflow.log_metrics({"drift_share_drifted": summary["share_drifted"],
                            "drift_n_drifted": summary["n_drifted"]})
        mlflow.set_tag("mlgate.drift_verdict", summary["verdict"])
        mlflow.log_artifact(str(paths.DRIFT_HTML))
        mlflow.log_dict(summary, "drift.json")
    drifted = [c for c, v in summary["columns"].items() if v["drifted"]]
    log.info("drift verdict: %s (%d of %d columns drifted: %s)", summary["verdict"],
             summary["n_drifted"], summary["n_columns"], ", ".join(drifted) or "none")


if __name__ == "__main__":
    stage_main("drift", main)
