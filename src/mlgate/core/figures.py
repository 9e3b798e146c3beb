"""PNG figures of the evaluation (for MLflow artifacts and DVC image plots)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

TOP_FEATURES = 20


def _figure():
    """A new matplotlib figure on the non-interactive Agg backend."""
    import matplotlib  # lazy: matplotlib: only drawing figures needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib: only drawing figures needs it

    return plt.subplots(figsize=(6, 4.5), dpi=100)


def roc_figure(roc: list[dict[str, float]], auc: float):
    """ROC curve with the chance diagonal."""
    fig, ax = _figure()
    df = pd.DataFrame(roc)
    ax.plot(df.fpr, df.tpr, label=f"ROC AUC = {auc:.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve")
    ax.legend(loc="lower right")
    return fig


def pr_figure(pr: list[dict[str, float]]):
    """Precision-recall curve."""
    fig, ax = _figure()
    df = pd.DataFrame(pr)
    ax.plot(df.recall, df.precision)
    ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve", ylim=(0, 1.02))
    return fig


def confusion_figure(confusion: pd.DataFrame):
    """Confusion matrix with counts."""
    fig, ax = _figure()
    table = pd.crosstab(confusion.actual, confusion.predicted).astype(int)
    ax.imshow(table.to_numpy(), cmap="Blues")
    for (i, j), n in pd.DataFrame(table.to_numpy()).stack().items():
        ax.text(j, i, str(n), ha="center", va="center")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns])
    ax.set_yticks(range(table.shape[0]), [str(c) for c in table.index])
    ax.set(xlabel="Predicted", ylabel="Actual", title="Confusion matrix")
    return fig


def importance_figure(importance: list[dict[str, Any]]):
    """Horizontal bars of the top permutation importances."""
    fig, ax = _figure()
    df = pd.DataFrame(importance[:TOP_FEATURES]).iloc[::-1]
    ax.barh(df.feature, df.importance, xerr=df["std"], color="tab:blue")
    ax.set(xlabel="Drop in score when shuffled", title="Permutation feature importance")
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
    """Every figure that applies to an evaluation result, by file stem."""
    out = {}
    if "roc" in result:
        out["roc"] = roc_figure(result["roc"], result["metrics"]["roc_auc"])
        out["precision_recall"] = pr_figure(result["pr"])
    if "confusion" in result:
        out["confusion_matrix"] = confusion_figure(result["confusion"])
    if "predictions" in result:
        out["residuals"] = residuals_figure(result["predictions"])
        out["actual_vs_predicted"] = actual_figure(result["predictions"])
    if "importance" in result:
        out["feature_importance"] = importance_figure(result["importance"])
    return out


def save_figures(result: dict[str, Any], folder: Path) -> list[Path]:
    """Write every applicable figure as PNG into `folder`; return the paths."""
    import matplotlib.pyplot as plt  # lazy: matplotlib: only drawing figures needs it

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, fig in figures(result).items():
        path = folder / f"{stem}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
