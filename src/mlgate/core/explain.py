"""Explanations: SHAP values of a fitted pipeline, reported per model input (pure).

The explainer runs on the pipeline's transformed features (what the estimator sees): a tree
explainer for tree ensembles and LightGBM, a linear one for linear models, and a
model-agnostic permutation explainer, on a bounded number of rows, for any other estimator.
Attribution is then summed back to the model's inputs: every column an encoder made from
one input (one-hot levels, ordinal codes, a scaled copy) counts for that input; a feature
the pipeline engineered (a declared feature, a polynomial or PCA term) keeps its own name
and lists the raw columns it uses (`Feature.uses`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlgate.base.errors import ConfigError, DataError
from mlgate.base.params import check_number, check_section
from mlgate.core.evaluation import model_labels

log = logging.getLogger(__name__)

EXPLAIN_KEYS = {"agnostic_max_rows", "background_rows", "seed"}
TREE, LINEAR, AGNOSTIC = "tree", "linear", "permutation"
# Estimators (by class name) whose exact SHAP values shap's TreeExplainer computes.
TREE_ESTIMATORS = {
    f"{kind}{task}" for kind in ("RandomForest", "ExtraTrees", "DecisionTree", "ExtraTree",
                                 "GradientBoosting") for task in ("Classifier", "Regressor")
} | {"LGBMClassifier", "LGBMRegressor", "XGBClassifier", "XGBRegressor", "CatBoostClassifier",
     "CatBoostRegressor"}
# Linear models: SHAP values are coef * (x - background mean), exact (LinearExplainer).
LINEAR_ESTIMATORS = {"LogisticRegression", "LinearRegression", "Ridge", "RidgeClassifier",
                     "Lasso", "ElasticNet", "Lars", "LassoLars", "BayesianRidge",
                     "ARDRegression", "HuberRegressor", "SGDClassifier", "SGDRegressor",
                     "LinearDiscriminantAnalysis", "OrthogonalMatchingPursuit",
                     "PassiveAggressiveRegressor", "PassiveAggressiveClassifier"}
MAX_BEESWARM_CLASSES = 10
FEATURE_STEP = "FeatureSteps"  # mlgate.core.model_steps.FeatureSteps, matched by class name


@dataclass(frozen=True)
class ExplainConfig:
    """`explain:` params: the model-agnostic explainer's row cap, background size, seed."""

    agnostic_max_rows: int
    background_rows: int
    seed: int

    @classmethod
    def from_params(cls, section: dict[str, Any] | None) -> ExplainConfig:
        """Build from the `explain:` section, naming every bad key."""
        section = check_section(section, "explain", EXPLAIN_KEYS)
        return cls(**{k: int(check_number(section[k], f"explain.{k}", low=1 if k != "seed"
                                          else 0, integer=True)) for k in EXPLAIN_KEYS})


@dataclass(frozen=True)
class Feature:
    """One model input as reported: a raw column, or a feature the pipeline made."""

    name: str
    uses: tuple[str, ...]  # the raw columns it is computed from (itself for a raw column)
    engineered: bool
    made_by: str  # `input`, `features.<kind>.<name>`, `features.custom`, or the step's name


@dataclass
class Explanation:
    """SHAP values per model input for some rows, and what produced them."""

    features: list[Feature]
    values: np.ndarray  # (rows, features) or, multiclass, (rows, features, classes)
    inputs: pd.DataFrame  # each feature's value on each row (raw, or as the pipeline made it)
    explainer: str  # tree | linear | permutation
    output: str  # what the values add up to: probability, log-odds, margin or the target
    base: np.ndarray  # the expected value (per class when multiclass)
    classes: list[Any] | None = None  # multiclass: the values' last axis; binary: [positive]
    estimator: str = ""
    sampled_from: int | None = None  # rows before a model-agnostic sample
    columns: dict[str, str] = field(default_factory=dict)  # transformed column -> feature

    @property
    def names(self) -> list[str]:
        """The features' names in the values' order."""
        return [f.name for f in self.features]


def final_estimator(model: Any) -> Any:
    """The last step of a pipeline (the model itself when it is not one)."""
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def explainer_kind(estimator: Any) -> str:
    """tree, linear or permutation, by the estimator's class."""
    name = type(estimator).__name__
    if name in TREE_ESTIMATORS:
        return TREE
    if name in LINEAR_ESTIMATORS and hasattr(estimator, "coef_"):
        return LINEAR
    return AGNOSTIC


def _inner(step: Any) -> Any:
    """The transformer inside PyCaret's TransformerWrapper (the step itself otherwise)."""
    return getattr(step, "transformer", step)


def _transform(step: Any, X: pd.DataFrame) -> pd.DataFrame:
    """One pipeline step's output on X (PyCaret wrappers may return (X, y))."""
    out = step.transform(X)
    out = out[0] if isinstance(out, tuple) else out
    if not isinstance(out, pd.DataFrame):
        names = getattr(step, "get_feature_names_out", None)
        cols = list(names()) if names is not None else [f"x{i}" for i in range(out.shape[1])]
        out = pd.DataFrame(np.asarray(out), columns=cols, index=X.index)
    return out


def _rule_features(step: Any, before: list[str], after: list[str], origin: dict[str, Feature]
                   ) -> dict[str, Feature]:
    """The columns mlgate's feature step made, each named by the rule that made it."""
    rules = getattr(_inner(step), "rules", ())
    made = {}
    for rule in rules:
        out = rule["output"]
        uses = tuple(dict.fromkeys(u for i in rule["inputs"] if i in origin
                                   for u in origin[i].uses))
        if rule["kind"] == "date_parts":  # one rule, several columns: `<column>_<part>`
            for col in after:
                if col not in before and col.startswith(f"{out}_"):
                    made[col] = Feature(col, uses, True, rule["key"])
        elif out not in before:
            made[out] = Feature(out, uses, True, rule["key"])
    return made


def _parent(col: str, candidates: list[str]) -> str | None:
    """The candidate `col` is an encoding of (`<candidate>_<level>`), longest name first."""
    for name in sorted(candidates, key=len, reverse=True):
        if col.startswith(f"{name}_"):
            return name
    return None


def _term_inputs(col: str, before: list[str]) -> list[str] | None:
    """The inputs of a polynomial term (`a b`, `a^2`), when every part is a column."""
    parts = [re.sub(r"\^\d+$", "", p) for p in col.split(" ")]
    return parts if all(p in before for p in parts) else None


def lineage(model: Any, X: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Feature],
                                                    pd.DataFrame]:
    """Walk the pipeline's steps on X: (estimator input, its column -> Feature, each
    feature's values before encoding)."""
    origin = {str(c): Feature(str(c), (str(c),), False, "input") for c in X.columns}
    inputs = X.copy()
    Z = X
    for name, step in getattr(model, "steps", [])[:-1]:
        before = [str(c) for c in Z.columns]
        Z = _transform(step, Z)
        after = [str(c) for c in Z.columns]
        known = set(before)
        new = [c for c in after if c not in known]
        if type(_inner(step)).__name__ == FEATURE_STEP:
            made = _rule_features(step, before, after, origin)
            for col in new:
                feature = made.get(col) or Feature(col, tuple(X.columns.astype(str)), True,
                                                   "features.custom")
                origin[col] = feature
                inputs[col] = Z[col]
            continue
        removed = [c for c in before if c not in set(after)]
        included = [str(c) for c in (getattr(step, "_include", None) or before)]
        for col in new:
            parent = _parent(col, removed or included)
            if parent is not None:
                origin[col] = origin[parent]
                continue
            parts = _term_inputs(col, before) or included
            uses = tuple(dict.fromkeys(u for p in parts if p in origin for u in origin[p].uses))
            origin[col] = Feature(col, uses, True, name)
            inputs[col] = Z[col]
    return Z, {c: origin[c] for c in map(str, Z.columns)}, inputs


def _as_array(values: Any, n_rows: int) -> np.ndarray:
    """shap's outputs (a list per class, or an array) as (rows, columns[, outputs])."""
    if isinstance(values, list):
        values = np.stack([np.asarray(v) for v in values], axis=-1)
    values = np.asarray(values, dtype=float)
    if values.ndim == 3 and values.shape[0] != n_rows:  # (outputs, rows, columns)
        values = np.moveaxis(values, 0, -1)
    return values


def _by_output(values: np.ndarray, base: Any, classes: list[Any] | None
               ) -> tuple[np.ndarray, np.ndarray, list[Any] | None]:
    """Keep the positive class of a binary model, every class of a multiclass one."""
    base = np.atleast_1d(np.asarray(base, dtype=float))
    if values.ndim == 2:
        return values, base[:1], classes[-1:] if classes else None
    if classes is not None and len(classes) == 2:
        return values[..., -1], base[-1:], classes[-1:]
    return values, base, classes


def _predict_fn(estimator: Any, task: str):
    """What the model-agnostic explainer explains: class probabilities, or the prediction."""
    if task != "regression" and hasattr(estimator, "predict_proba"):
        return estimator.predict_proba, "probability"
    return estimator.predict, "prediction" if task == "regression" else "label"


def _shap_values(estimator: Any, kind: str, Z: pd.DataFrame, background: pd.DataFrame,
                 task: str) -> tuple[Any, Any, str]:
    """(values, expected value, output space) of the chosen explainer on Z."""
    import shap  # lazy: shap, ~2 s: only explanations need it

    if kind == TREE:
        explainer = shap.TreeExplainer(estimator)
        output = "target" if task == "regression" else (
            "log-odds" if type(estimator).__name__.startswith(("LGBM", "XGB", "CatBoost",
                                                               "GradientBoosting"))
            else "probability")
        return explainer.shap_values(Z, check_additivity=False), explainer.expected_value, \
            output
    if kind == LINEAR:
        explainer = shap.LinearExplainer(estimator, shap.maskers.Independent(
            background, max_samples=len(background)))
        output = "target" if task == "regression" else "log-odds"
        return explainer.shap_values(Z), explainer.expected_value, output
    fn, output = _predict_fn(estimator, task)
    masker = shap.maskers.Independent(background, max_samples=len(background))
    explainer = shap.PermutationExplainer(lambda a: fn(pd.DataFrame(a, columns=Z.columns)),
                                          masker, seed=0)
    result = explainer(Z.to_numpy(dtype=float), max_evals=2 * Z.shape[1] + 1, silent=True)
    return result.values, result.base_values.mean(axis=0), output


def explain(model: Any, X: pd.DataFrame, background: pd.DataFrame, cfg: ExplainConfig,
            task: str = "classification", classes: list[Any] | None = None,
            sample: bool = False) -> Explanation:
    """SHAP values of `model` on the rows of X, per model input.

    `background`: raw training rows (the linear and model-agnostic explainers' reference).
    The model-agnostic explainer takes at most `explain.agnostic_max_rows` rows: with
    `sample` a seeded sample of X, else a larger X is refused with a DataError saying so.
    """
    estimator = final_estimator(model)
    kind = explainer_kind(estimator)
    sampled_from = None
    if kind == AGNOSTIC and len(X) > cfg.agnostic_max_rows:
        if not sample:
            raise DataError(
                f"{len(X)} rows to explain, above explain.agnostic_max_rows = "
                f"{cfg.agnostic_max_rows}: {type(estimator).__name__} has no exact SHAP "
                "explainer, and the model-agnostic one costs ~2 x features x background rows "
                "predictions per row. Split the batch, or raise the cap knowingly")
        sampled_from = len(X)
        X = X.sample(cfg.agnostic_max_rows, random_state=cfg.seed).sort_index()
    Z, columns, inputs = lineage(model, X)
    bg = background[X.columns]
    bg = bg.sample(min(cfg.background_rows, len(bg)), random_state=cfg.seed)
    Zb = lineage(model, bg)[0] if kind != TREE else Z.iloc[:0]
    log.info("explaining %d row(s) of %s with the %s explainer", len(X),
             type(estimator).__name__, kind)
    raw, base, output = _shap_values(estimator, kind, Z.astype(float), Zb.astype(float), task)
    values = _as_array(raw, len(Z))
    if task == "regression":
        values, base, kept = values if values.ndim == 2 else values[..., 0], \
            np.atleast_1d(np.asarray(base, dtype=float))[:1], None
    else:
        values, base, kept = _by_output(values, base, classes)
    features, summed = _sum_by_feature(values, list(Z.columns.astype(str)), columns)
    return Explanation(features, summed, inputs[[f.name for f in features]], kind, output,
                       base, kept, type(estimator).__name__, sampled_from, columns)


def _sum_by_feature(values: np.ndarray, cols: list[str], columns: dict[str, Feature]
                    ) -> tuple[list[Feature], np.ndarray]:
    """Sum the transformed columns' values into their features (an additive regrouping)."""
    features: dict[str, Feature] = {}
    for col in cols:
        features.setdefault(columns[col].name, columns[col])
    index = {name: i for i, name in enumerate(features)}
    shape = (values.shape[0], len(features), *values.shape[2:])
    summed = np.zeros(shape)
    for j, col in enumerate(cols):
        summed[:, index[columns[col].name]] += values[:, j]
    return list(features.values()), summed


def mean_abs(expl: Explanation) -> pd.DataFrame:
    """Mean |SHAP| per feature (columns: one per class when multiclass), largest first."""
    values = np.abs(expl.values).mean(axis=0)
    if values.ndim == 1:
        frame = pd.DataFrame({"importance": values}, index=expl.names)
    else:
        frame = pd.DataFrame(values, index=expl.names,
                             columns=[str(c) for c in expl.classes or range(values.shape[1])])
        frame.insert(0, "importance", values.sum(axis=1))
    return frame.sort_values("importance", ascending=False)


def importance_rows(expl: Explanation) -> list[dict[str, Any]]:
    """The feature-importance plot data: {feature, importance} (mean |SHAP|; multiclass:
    summed over classes, as shap's stacked bar), largest first."""
    frame = mean_abs(expl)
    return [{"feature": name, "importance": round(float(v), 6)}
            for name, v in frame["importance"].items()]


def summary(expl: Explanation) -> dict[str, Any]:
    """reports/explain.json: how the values were made and mean |SHAP| per feature (and class)."""
    frame = mean_abs(expl)
    by = {f.name: f for f in expl.features}
    rows = []
    for name, row in frame.iterrows():
        f = by[name]
        entry = {"feature": name, "mean_abs_shap": round(float(row["importance"]), 6),
                 "engineered": f.engineered, "uses": list(f.uses), "made_by": f.made_by}
        if expl.values.ndim == 3:
            entry["by_class"] = {c: round(float(row[c]), 6) for c in frame.columns[1:]}
        rows.append(entry)
    return {"explainer": expl.explainer, "estimator": expl.estimator, "output": expl.output,
            "rows": int(expl.values.shape[0]), "sampled_from": expl.sampled_from,
            "classes": None if expl.classes is None else [str(c) for c in expl.classes],
            "expected_value": [round(float(b), 6) for b in expl.base],
            "transformed_columns": len(expl.columns), "features": rows}


def _row_values(expl: Explanation, predicted: np.ndarray | None) -> np.ndarray:
    """Each row's values for the class it is explained for: binary's positive class, the
    predicted class when multiclass."""
    if expl.values.ndim == 2:
        return expl.values
    if predicted is None:
        raise ConfigError("a multiclass explanation per row needs the predicted classes")
    position = {str(c): i for i, c in enumerate(expl.classes or [])}
    idx = np.array([position[str(p)] for p in predicted])
    return expl.values[np.arange(len(idx)), :, idx]


def reasons(expl: Explanation, top_k: int, predicted: np.ndarray | None = None
            ) -> pd.DataFrame:
    """Each row's top-k reasons: `reason_<i>` (feature), `_value` and `_contribution`,
    ordered by |contribution| (the row order and index of the explained rows)."""
    values = _row_values(expl, predicted)
    k = min(top_k, values.shape[1])
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]
    names = np.asarray(expl.names, dtype=object)
    inputs = expl.inputs.to_numpy(dtype=object)
    rows = np.arange(values.shape[0])[:, None]
    out = {}
    for i in range(k):
        col = order[:, i]
        out[f"reason_{i + 1}"] = names[col]
        out[f"reason_{i + 1}_value"] = [_text(v) for v in inputs[rows[:, 0], col]]
        out[f"reason_{i + 1}_contribution"] = np.round(values[rows[:, 0], col], 6)
    return pd.DataFrame(out, index=expl.inputs.index)


def _text(value: Any) -> str | None:
    """A feature value as text (one column type for numbers, levels and dates)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value.item() if hasattr(value, "item") else value)


def numeric_inputs(expl: Explanation) -> pd.DataFrame:
    """The feature values as numbers for colouring a beeswarm (text levels: NaN, grey)."""
    return expl.inputs.apply(lambda s: pd.to_numeric(s, errors="coerce")
                             if not isinstance(s.dtype, pd.CategoricalDtype) else
                             pd.Series(np.nan, index=s.index)).astype(float)


def with_reasons(scored: pd.DataFrame, features: list[str], model: Any,
                 background: pd.DataFrame, cfg: ExplainConfig, task: str, top_k: int,
                 prediction: str = "prediction") -> pd.DataFrame:
    """A scored batch with each row's top-k reasons beside its prediction.

    Exact explainers run on every row; the model-agnostic one refuses a batch above
    `explain.agnostic_max_rows` (a DataError saying so), never a silent sample.
    """
    classes = None if task == "regression" else model_labels(model)
    expl = explain(model, scored[features], background[features], cfg, task, classes)
    predicted = scored[prediction].to_numpy() if expl.values.ndim == 3 else None
    found = reasons(expl, top_k, predicted)
    return pd.concat([scored, found], axis=1)
