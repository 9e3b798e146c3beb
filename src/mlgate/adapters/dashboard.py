"""The monitoring dashboard, defined in code and written idempotently to a model's project.

Every panel selects snapshots tagged `main` (MAIN_TAG): experiments' snapshots
stay in the project, out of these plots. Evidently 0.7 series are selected by metric type and
the metric's parameters (`metric_labels`): `DriftedColumnsCount` with `value_type: share`,
`ValueDrift` with `column: <name>`.
"""

from __future__ import annotations

import uuid
from typing import Any

TAB = "Drift over time"
NAMESPACE = uuid.UUID("5f0c1f2e-8a47-4e0b-9a4e-6d6c9e0b7a51")  # mlgate dashboard ids
MAIN_TAG = "main"  # the tag of snapshots outside experiments (adapters.monitoring)
# The model's quality on a labelled batch as an Evidently series the dashboard can plot: the
# mean of a per-row column (1 when the prediction is right: accuracy; |error|: MAE).
QUALITY_COLUMN = {"classification": "mlgate_correct", "regression": "mlgate_abs_error"}


def panels(important: list[str]) -> list[Any]:
    """The dashboard's panels: drifted share, each important column's drift score, outputs."""
    from evidently.sdk.models import PanelMetric  # lazy: Evidently, ~2 s
    from evidently.sdk.panels import line_plot_panel  # lazy: Evidently, ~2 s

    def metric(name: str, legend: str, **labels: str) -> Any:
        return PanelMetric(legend=legend, metric=name, metric_labels=labels, tags=[MAIN_TAG])

    out = [line_plot_panel(
        title="Share of drifted features", size="full",
        description="drifted columns / compared columns, batch after batch",
        values=[metric("DriftedColumnsCount", "share drifted", value_type="share")])]
    if important:
        out.append(line_plot_panel(
            title="Drift score of the important columns", size="half",
            description="drift.per_column important: true; each alone triggers a retrain",
            values=[metric("ValueDrift", col, column=col) for col in important]))
        out.append(line_plot_panel(
            title="Missing values in the important columns", size="half",
            description="share of the batch's rows with no value",
            values=[metric("MissingValueCount", col, column=col, value_type="share")
                    for col in important]))
        out.append(line_plot_panel(
            title="Out-of-range values in the important columns", size="half",
            description="numbers outside the reference's range, levels it never had",
            values=[metric(kind, col, column=col, value_type="count") for col in important
                    for kind in ("OutRangeValueCount", "OutListValueCount")]))
    out.append(line_plot_panel(
        title="Prediction drift", size="half",
        description="drift score of the model's predictions (and probabilities)",
        values=[metric("ValueDrift", col, column=col) for col in ("prediction", "probability")]))
    out.append(line_plot_panel(
        title="Model quality once labels arrive", size="half",
        description="accuracy (classification) or mean absolute error (regression) of the "
                    "model that scored the batch, on its labelled rows",
        values=[metric("MeanValue", "accuracy", column=QUALITY_COLUMN["classification"]),
                metric("MeanValue", "mean absolute error",
                       column=QUALITY_COLUMN["regression"])]))
    return out


def dashboard_model(important: list[str]) -> Any:
    """The whole dashboard: one tab, its panels, ids derived from the titles (stable)."""
    from evidently.sdk.models import DashboardModel, DashboardTabModel  # lazy: Evidently

    plots = panels(important)
    for plot in plots:
        plot.id = uuid.uuid5(NAMESPACE, plot.title)
    tab = DashboardTabModel(id=uuid.uuid5(NAMESPACE, TAB), title=TAB,
                            panels=[p.id for p in plots])
    return DashboardModel(tabs=[tab], panels=plots)


def ensure_dashboard(ws: Any, project: Any, important: list[str] | None = None) -> None:
    """Write the dashboard to the project, replacing what was there: the same definition
    gives the same dashboard, however often it is written."""
    ws.save_dashboard(project.id, dashboard_model(list(important or [])))
