"""Screenshots in headless Chromium: the MLflow compare view of the newest pipeline runs,
(`--monitor`) the monitoring dashboard of the registered model, or (`--card`) the champion's
version page (its model card) and its run's SHAP summary figure.

Starts the MLflow UI for the repository's store (or Evidently's UI on the monitoring
workspace) on 127.0.0.1, stopped by pid afterwards, and saves a PNG. Needs Debian's
`chromium` (`apt-get install chromium`). Run: `make screenshot`, `make screenshot-monitor`, `make screenshot-card`.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

from mlgate.adapters.serving import start_ui
from mlgate.adapters.tracking import tracking_uri
from mlgate.base.params import load_params, repo_root

log = logging.getLogger("screenshot")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def newest_runs(uri: str, experiment: str, n: int) -> tuple[str, list[str]]:
    """(experiment id, ids of the newest `n` top-level runs) in the store."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise SystemExit(f"no MLflow experiment {experiment!r} in {uri}: run `make sweep` first")
    runs = [r for r in client.search_runs([exp.experiment_id], order_by=["start_time DESC"])
            if "mlflow.parentRunId" not in r.data.tags][:n]
    return exp.experiment_id, [r.info.run_id for r in runs]


def compare_url(base: str, experiment_id: str, run_ids: list[str]) -> str:
    """The MLflow UI's compare-runs view for these runs."""
    query = urllib.parse.urlencode({"runs": json.dumps(run_ids),
                                    "experiments": json.dumps([experiment_id])})
    return f"{base}/#/compare-runs?{query}"


def screenshot(url: str, out: Path, width: int, height: int) -> None:
    """Render `url` in headless Chromium and save a PNG."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                        f"--window-size={width},{height}", "--virtual-time-budget=30000",
                        f"--screenshot={out}", url], check=True, capture_output=True,
                       timeout=180)


def main() -> None:
    """Start the UI, screenshot the compare view, stop the UI."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("docs/mlflow-compare.png"))
    parser.add_argument("--size", default="1600x1400")
    parser.add_argument("--monitor", action="store_true",
                        help="the monitoring dashboard of gate.model_name instead")
    parser.add_argument("--card", action="store_true",
                        help="the champion's version page and its run's SHAP figure instead "
                             "(--out is the version page; the figure goes beside it)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.monitor:
        return monitor_screenshot(args)
    if args.card:
        return card_screenshots(args)
    cfg = load_params(repo_root() / "params.yaml")["tracking"]
    uri = tracking_uri(cfg)
    experiment_id, run_ids = newest_runs(uri, cfg.get("experiment") or "mlgate", args.runs)
    width, height = (int(v) for v in args.size.split("x"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with start_ui(uri) as ui:
        screenshot(compare_url(ui.url, experiment_id, run_ids), args.out.resolve(), width,
                   height)
    log.info("wrote %s (%d runs)", args.out, len(run_ids))


def card_screenshots(args: argparse.Namespace) -> None:
    """Start the MLflow UI; screenshot the champion's version page and its run's SHAP figure."""
    from mlflow import MlflowClient

    params = load_params(repo_root() / "params.yaml")
    uri, name = tracking_uri(params["tracking"]), params["gate"]["model_name"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version_by_alias(name, params["gate"]["alias"])
    run = client.get_run(version.run_id)
    width, height = (int(v) for v in args.size.split("x"))
    figure = args.out.with_name("mlflow-shap.png")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with start_ui(uri) as ui:
        screenshot(f"{ui.url}/#/models/{urllib.parse.quote(name)}/versions/{version.version}",
                   args.out.resolve(), width, height)
        screenshot(f"{ui.url}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
                   "/artifacts/figures/shap_summary.png", figure.resolve(), width, 1000)
    log.info("wrote %s (%s v%s) and %s", args.out, name, version.version, figure)


def monitor_screenshot(args: argparse.Namespace) -> None:
    """Start Evidently's UI on the workspace, screenshot the model's dashboard, stop the UI."""
    from mlgate.adapters.monitoring import MonitorConfig, find_project, open_workspace
    from mlgate.adapters.serving import start_monitor_ui

    params = load_params(repo_root() / "params.yaml")
    cfg, model = MonitorConfig.from_params(params["monitor"]), params["gate"]["model_name"]
    project = find_project(open_workspace(cfg), model)
    if project is None:
        raise SystemExit(f"no monitoring project {model!r} in {cfg.path()}: run `make run` "
                         "or `mlgate drift --current FILE` first")
    width, height = (int(v) for v in args.size.split("x"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with start_monitor_ui(cfg.path()) as ui:
        screenshot(f"{ui.url}/projects/{project.id}", args.out.resolve(), width, height)
    log.info("wrote %s (dashboard of %s)", args.out, model)


if __name__ == "__main__":
    sys.exit(main())
