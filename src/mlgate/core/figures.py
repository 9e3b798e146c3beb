"""PNG figures of the evaluation (for MLflow artifacts and DVC image plots)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

TOP_FEATURES = 20
MAX_CLASS_FIGURES = 10


def _pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib  # lazy: matplotlib: only drawing figures needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib: only drawing figures needs it

    return plt


def _figure():
    """A new matplotlib figure on the non-interactive Agg backend."""
    return _pyplot().subplots(figsize=(6, 4.5), dpi=100)


def importance_figure(importance: pd.DataFrame, title: str):
    """Horizontal bars of the top features' mean |SHAP| (stacked by class when multiclass)."""
    fig, ax = _figure()
    top = importance.head(TOP_FEATURES).iloc[::-1]
    classes = [c for c in top.columns if c != "importance"]
    left = pd.Series(0.0, index=top.index)
    for name in classes or ["importance"]:
        ax.barh(top.index, top[name], left=left, label=name if classes else None)
        left = left + top[name]
    if classes:
        ax.legend(title="class", fontsize="small")
    ax.set(xlabel="mean |SHAP value|", title=title)
    fig.tight_layout()
    return fig


def beeswarm_figure(values: Any, inputs: pd.DataFrame, title: str):
    """shap's summary (beeswarm) plot: one dot per row and feature, coloured by its value."""
    import shap  # lazy: shap, ~2 s: only explanations need it

    plt = _pyplot()
    plt.figure()
    shap.summary_plot(values, inputs, max_display=TOP_FEATURES, show=False, plot_size=(8, 6))
    fig = plt.gcf()
    fig.axes[0].set_title(title)
    fig.tight_layout()
    return fig


def residuals_figure(predictions: list[dict[str, float]]):
    """Residuals against predicted values."""
    fig, ax = _figure()
    df = pd.DataFrame(predictions)
    ax.scatter(df.predicted, df.residual, s=6, alpha=0.5)
    ax.axhline(0, color="grey", linestyle="--", linewidth=1)
    ax.set(xlabel="Predicted", ylabel="Actual - predicted", title="Residuals")
    return fig


def actual_figure(predictions: list[dict[str, float]]):
    """Actual against predicted values with the identity line."""
    fig, ax = _figure()
    df = pd.DataFrame(predictions)
    ax.scatter(df.predicted, df.actual, s=6, alpha=0.5)
    lo, hi = min(df.min()), max(df.max())
    ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1)
    ax.set(xlabel="Predicted", ylabel="Actual", title="Actual vs predicted")
    return fig


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """The figures mlgate draws itself (MLflow's evaluator draws the curves and the confusion
    matrix): regression residuals, by file stem."""
    out = {}
    if "predictions" in result:
        out["residuals"] = residuals_figure(result["predictions"])
        out["actual_vs_predicted"] = actual_figure(result["predictions"])
    return out


def explanation_figures(importance: pd.DataFrame, per_class: dict[str, Any],
                        inputs: pd.DataFrame, what: str) -> dict[str, Any]:
    """The SHAP figures by file stem: the mean |SHAP| bars, and a beeswarm (one per class,
    at most MAX_CLASS_FIGURES, when multiclass); `what` names the explainer in the titles."""
    out = {"feature_importance": importance_figure(importance, f"Mean |SHAP| ({what})")}
    items = list(per_class.items())
    for label, values in items[:MAX_CLASS_FIGURES]:
        stem = "shap_summary" if len(items) == 1 else f"shap_summary_{_stem(label)}"
        title = "SHAP values" + ("" if len(items) == 1 else f": class {label}") + f" ({what})"
        out[stem] = beeswarm_figure(values, inputs, title)
    return out


def _stem(label: Any) -> str:
    """A class label as part of a file name."""
    return re.sub(r"[^\w.-]+", "_", str(label))[:40]


def save_figures(figs: dict[str, Any], folder: Path) -> list[Path]:
    """Write figures (by file stem) as PNG into `folder`; return the paths."""
    import matplotlib.pyplot as plt  # lazy: matplotlib: only drawing figures needs it

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, fig in figs.items():
        path = folder / f"{stem}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
