"""Batch scoring: check a batch against what the model was trained on, predict, check predictions.

Pure functions on DataFrames; loading models and files happens in stages/score.py and the CLI.
The expectations ("profile") come from the training table (pipeline) or from the model
signature plus the profile stored with the model's MLflow run (`mlgate predict` / `drift`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn import metrics as skm

from mlgate.base.errors import ConfigError, DataError
from mlgate.base.frames import default_index
from mlgate.base.params import check_section
from mlgate.core.evaluation import align_columns, regression_metrics

log = logging.getLogger(__name__)

PREDICTION = "prediction"
PROBABILITY = "probability"
MODEL_URI = "model_uri"
OUTPUT_COLUMNS = (PREDICTION, PROBABILITY, MODEL_URI)
# MLflow signature column types -> mlgate kinds.
SIGNATURE_KINDS = {"long": "integer", "integer": "integer", "double": "float", "float": "float",
                   "boolean": "bool", "string": "string", "binary": "string",
                   "datetime": "datetime"}
MAX_LISTED = 10
PROBA_TOLERANCE = 1e-6


class ScoringError(DataError):
    """A batch or a prediction that fails a scoring check; the message names the columns."""


# Local masters only: the driver listens on loopback (a cluster's executors must reach it).
LOCAL_CONF = {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}

def flat_conf(conf: Any, path: str = "score.spark.conf") -> dict[str, str]:
    """Spark properties as dotted string keys (nested mappings joined with dots)."""
    if not isinstance(conf, dict):
        raise ConfigError(f"`{path}` must be a mapping of Spark properties, got {conf!r}")
    out: dict[str, str] = {}
    for key, value in conf.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in flat_conf(value, f"{path}.{key}").items()})
        elif value is None or isinstance(value, list):
            raise ConfigError(f"`{path}.{key}` must be a string, number or boolean, "
                              f"got {value!r}")
        else:
            out[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


@dataclass(frozen=True)
class SparkConfig:
    """`score.spark:` the session's master URL, application name and Spark properties."""

    master: str
    app_name: str
    conf: dict[str, str] = field(hash=False)

    @classmethod
    def from_params(cls, section: Any) -> SparkConfig:
        """Build from `score.spark`; unknown keys name `score.spark.<key>`."""
        section = check_section(section, "score.spark", {"master", "app_name", "conf"})
        conf = flat_conf(section.pop("conf") or {})
        return cls(**section, conf=conf)

    def __post_init__(self) -> None:
        """Master and application name are non-empty strings."""
        for key in ("master", "app_name"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"`score.spark.{key}` must be a non-empty string, "
                                  f"got {value!r}")

    @property
    def local(self) -> bool:
        """True for `local`, `local[N]`, `local[*]`: driver and workers on this machine."""
        return self.master.startswith("local")

    def properties(self) -> dict[str, str]:
        """LOCAL_CONF for a local master, then `conf` (which wins)."""
        return {**(LOCAL_CONF if self.local else {}), **self.conf}


@dataclass(frozen=True)
class ScoreConfig:
    """`score:` params: how strict the batch checks are and how the reference is sampled."""

    unseen_categories: str
    extra_columns: str
    range_margin: float
    reference_rows: int
    seed: int
    engine: str  # pandas | spark (mlgate.engines.spark_scoring)
    spark: dict[str, Any] = field(hash=False)  # master, app_name, conf
    explain: dict[str, Any] = field(hash=False)  # top_k: each row's top reasons (0: none)

    @classmethod
    def from_params(cls, section: dict[str, Any] | None) -> ScoreConfig:
        """Build from the `score:` section of params.yaml; unknown keys name `score.<key>`."""
        return cls(**check_section(section, "score", {
            "unseen_categories", "extra_columns", "range_margin", "reference_rows", "seed",
            "engine", "spark", "explain"}))

    @property
    def top_k(self) -> int:
        """`score.explain.top_k`: how many reasons each scored row gets (0: none)."""
        return int(self.explain["top_k"])

    def __post_init__(self) -> None:
        """Reject bad values early, naming the key."""
        choices = {"unseen_categories": ("error", "warn"), "extra_columns": ("error", "drop"),
                   "engine": ("pandas", "spark")}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"`score.{key}` must be one of {list(allowed)}, "
                                  f"got {getattr(self, key)!r}")
        if not _is_number(self.range_margin) or self.range_margin < 0:
            raise ConfigError(f"`score.range_margin` must be a number >= 0, "
                              f"got {self.range_margin!r}")
        for key in ("reference_rows", "seed"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"`score.{key}` must be an integer >= 0, got {value!r}")
        if self.reference_rows < 1:
            raise ConfigError("`score.reference_rows` must be at least 1")
        SparkConfig.from_params(self.spark)
        top_k = check_section(self.explain, "score.explain", {"top_k"})["top_k"]
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 0:
            raise ConfigError(f"`score.explain.top_k` must be an integer >= 0, got {top_k!r}")


def _is_number(value: Any) -> bool:
    """A real number that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Profile:
    """What the model was trained on: feature kinds, categories, ranges, target and labels."""

    features: dict[str, str]
    target: str | None = None
    task: str = "classification"
    categories: dict[str, list[Any]] = field(default_factory=dict)
    ranges: dict[str, list[float]] = field(default_factory=dict)
    labels: list[Any] | None = None
    target_range: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (stored beside the reference data)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """Rebuild from to_dict() output (unknown keys are an error naming them)."""
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown or "features" not in data:
            raise DataError(f"stored profile: unknown key(s) {unknown} or no `features`; "
                            "rerun the score stage to rewrite it")
        return cls(**data)


def column_kind(s: pd.Series) -> str:
    """The mlgate kind of a column: integer, float, bool, datetime or string."""
    if ptypes.is_bool_dtype(s):
        return "bool"
    if ptypes.is_integer_dtype(s):
        return "integer"
    if ptypes.is_float_dtype(s):
        return "float"
    if ptypes.is_datetime64_any_dtype(s):
        return "datetime"
    return "string"


def _plain(values: Any) -> list[Any]:
    """Sorted unique non-null values as plain Python scalars (JSON-friendly)."""
    uniq = pd.Series(values).dropna().unique().tolist()
    return sorted(uniq, key=lambda v: (str(type(v)), v))


def profile_from_frame(train: pd.DataFrame, target: str, categorical: list[str],
                       task: str = "classification") -> Profile:
    """Profile of a training table: `target` is set aside, `categorical` columns get categories."""
    if target not in train.columns:
        raise DataError(f"training data lacks the target column `{target}`")
    features = {str(c): column_kind(train[c]) for c in train.columns if c != target}
    missing = [c for c in categorical if c not in features]
    if missing:
        raise ConfigError(f"`data.categorical` names column(s) not in the training data: "
                          f"{missing}")
    numeric = [c for c, k in features.items() if k in ("integer", "float") and c not in categorical]
    y = train[target]
    classification = task == "classification"
    return Profile(
        features=features, target=target, task=task,
        categories={c: _plain(train[c]) for c in categorical},
        ranges={c: [float(train[c].min()), float(train[c].max())] for c in numeric
                if train[c].notna().any()},
        labels=_plain(y) if classification else None,
        target_range=None if classification else [float(y.min()), float(y.max())])


def profile_from_signature(inputs: list[dict[str, Any]], stored: Profile | None,
                           target: str | None, task: str) -> Profile:
    """Columns and kinds from an MLflow signature; categories, ranges, labels from `stored`."""
    features = {str(i["name"]): SIGNATURE_KINDS.get(str(i.get("type")), "string")
                for i in inputs}
    if stored is None:
        return Profile(features=features, target=target, task=task)
    return Profile(features=features, target=stored.target or target, task=stored.task,
                   categories={c: v for c, v in stored.categories.items() if c in features},
                   ranges={c: v for c, v in stored.ranges.items() if c in features},
                   labels=stored.labels, target_range=stored.target_range)


def _listed(values: list[Any]) -> str:
    """At most MAX_LISTED values, comma separated, with a count of the rest."""
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values[:MAX_LISTED])
    rest = len(values) - MAX_LISTED
    return shown + (f" (+{rest} more)" if rest > 0 else "")


def column_problems(df: pd.DataFrame, profile: Profile, cfg: ScoreConfig) -> list[str]:
    """Missing feature columns and (unless `score.extra_columns: drop`) extra columns."""
    allowed = {*profile.features, *([profile.target] if profile.target else [])}
    missing = [c for c in profile.features if c not in df.columns]
    extra = [str(c) for c in df.columns if c not in allowed]
    problems = []
    if missing:
        problems.append(f"missing column(s) the model was trained on: {_cols(missing)}")
    if extra and cfg.extra_columns == "error":
        problems.append(f"column(s) the model was not trained on: {_cols(extra)} "
                        "(drop them, or set score.extra_columns: drop)")
    return problems


def _cols(names: list[str]) -> str:
    """`a`, `b`, ... for messages."""
    return ", ".join(f"`{c}`" for c in names)


def _example(s: pd.Series, bad: pd.Series) -> str:
    """' (e.g. <value>)' for the first offending value, or ''."""
    values = s[bad & s.notna()]
    return f" (e.g. {values.iloc[0]!r})" if len(values) else ""


def _is_whole(s: pd.Series) -> pd.Series:
    """True where a float value is a whole number (or missing)."""
    vals = s.astype(float)
    return vals.isna() | (np.isfinite(vals) & (vals == np.round(vals)))


def conform_column(s: pd.Series, kind: str) -> tuple[pd.Series | None, str | None]:
    """(s converted to `kind`, None) or (None, why it cannot be): lossless conversions only."""
    actual = column_kind(s)
    if actual == kind:
        return s, None
    numeric = actual in ("integer", "float")
    if kind == "float" and (numeric or actual == "bool"):
        return s.astype("float64"), None
    if kind == "integer" and actual == "float":
        whole = _is_whole(s)
        if whole.all():
            return (s if s.isna().any() else s.astype("int64")), None
        return None, f"expected integer, found float{_example(s, ~whole)}"
    if kind == "integer" and actual == "bool":
        return s.astype("int64"), None
    if kind == "bool" and numeric and s.dropna().isin([0, 1]).all():
        return (s if s.isna().any() else s.astype(bool)), None
    bad = pd.to_numeric(s, errors="coerce").isna() if kind in ("integer", "float") else s.notna()
    return None, f"expected {kind}, found {s.dtype}{_example(s, bad)}"


def conform_types(df: pd.DataFrame, profile: Profile) -> tuple[pd.DataFrame, list[str]]:
    """Features in training order with lossless dtype conversions, and the type problems."""
    out, problems = {}, []
    for col, kind in profile.features.items():
        if col not in df.columns:
            continue  # reported by column_problems
        converted, why = conform_column(df[col], kind)
        if why:
            problems.append(f"`{col}`: {why}")
        else:
            out[col] = converted
    if list(df.columns) == list(out) and all(out[c] is df[c] for c in out):
        return df, problems  # already model-ready: no copy of the batch
    return pd.DataFrame(out, index=df.index), problems  # consolidated: PyCaret is faster on it


def unseen_categories(X: pd.DataFrame, profile: Profile) -> dict[str, list[Any]]:
    """Per categorical column, the values the model never saw in training."""
    found = {}
    for col, known in profile.categories.items():
        if col in X.columns:
            values = X[col].dropna()
            new = _plain(values[~values.isin(known)])
            if new:
                found[col] = new
    return found


def _unseen_message(unseen: dict[str, list[Any]], profile: Profile) -> list[str]:
    """One message per column with unseen categories, listing the known ones."""
    return [f"`{c}`: unseen categor{'y' if len(v) == 1 else 'ies'} {_listed(v)} (trained on "
            f"{_listed(profile.categories[c])})" for c, v in unseen.items()]


def infinite_values(X: pd.DataFrame) -> list[str]:
    """One problem per numeric feature holding +/-inf (no model can score those)."""
    # only float columns can hold inf; each is checked in place (no copy of the whole table)
    counts = {c: int(np.isinf(X[c].to_numpy(dtype=float, na_value=np.nan)).sum())
              for c in X.columns if ptypes.is_float_dtype(X[c].dtype)}
    return [f"`{c}`: {n} infinite value(s)" for c, n in counts.items() if n]


@dataclass
class Batch:
    """A checked batch: model-ready features, the labels when present, and warnings."""

    features: pd.DataFrame
    labels: pd.Series | None
    unseen: dict[str, list[Any]]
    warnings: list[str]


def check_batch(df: pd.DataFrame, profile: Profile, cfg: ScoreConfig, source: str) -> Batch:
    """Check columns, types and categories; raise ScoringError naming every problem."""
    if df.empty:
        raise ScoringError(f"{source}: the batch has no rows")
    df = default_index(df)  # duplicate index labels break pipeline transformers
    problems = column_problems(df, profile, cfg)
    X, type_problems = conform_types(df, profile)
    if type_problems:
        problems.append("wrong column type(s): " + "; ".join(type_problems))
    problems += infinite_values(X)
    unseen = unseen_categories(X, profile)
    messages = _unseen_message(unseen, profile)
    if messages and cfg.unseen_categories == "error":
        problems += [*messages, "(set score.unseen_categories: warn to score anyway)"]
    if problems:
        raise ScoringError(f"{source}: " + "; ".join(problems))
    labels = df[profile.target] if profile.target in df.columns else None
    return Batch(X, labels, unseen, [f"{source}: {m}" for m in messages])


def predict_frame(model: Any, X: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    """`prediction` (+ `probability` for classification) for every row of X."""
    aligned = align_columns(model, X, profile.target)
    if profile.task != "classification":
        return pd.DataFrame({PREDICTION: np.asarray(model.predict(aligned))}, index=X.index)
    pred, proba = labels_and_proba(model, aligned)
    proba = np.asarray(proba, dtype=float)
    check_probabilities(proba, profile.labels)
    # binary: probability of the positive (last) label; multiclass: of the predicted one
    return pd.DataFrame({PREDICTION: np.asarray(pred),
                         PROBABILITY: proba[:, -1] if proba.shape[1] == 2 else proba.max(axis=1)},
                        index=X.index)


def labels_and_proba(model: Any, X: pd.DataFrame) -> tuple[Any, Any]:
    """model.predict and model.predict_proba, running a PyCaret pipeline's preprocessing once.

    A PyCaret Pipeline's predict and predict_proba both `transform` X through every step but
    the last, then call the final estimator (predict maps labels back with
    `inverse_transform`); preprocessing is most of the cost, so it is done once here. Other
    models (a SparkModel, a plain estimator) get their own two calls.
    """
    steps = getattr(model, "steps", None)
    final = steps[-1][1] if steps else None
    if final is None or not all(hasattr(o, m) for o, m in (
            (model, "transform"), (model, "inverse_transform"), (final, "predict_proba"))):
        return model.predict(X), model.predict_proba(X)
    Xt = model.transform(X)
    proba = final.predict_proba(Xt)
    labels = final.classes_.take(proba.argmax(axis=1)) if predicts_by_argmax(final) \
        else final.predict(Xt)
    return model.inverse_transform(labels), proba


# Estimators whose predict() is classes_[argmax(predict_proba())] by construction.
ARGMAX_PREDICTORS = {("sklearn", "DecisionTreeClassifier"), ("sklearn", "ExtraTreeClassifier"),
                     ("sklearn", "RandomForestClassifier"), ("sklearn", "ExtraTreesClassifier"),
                     ("lightgbm", "LGBMClassifier")}


def predicts_by_argmax(estimator: Any) -> bool:
    """True when labels can be taken from predict_proba's argmax exactly (saves a second pass).

    scikit-learn's single-output trees and forests and LightGBM's classifier with a built-in
    objective compute predict() that way; logistic regression (decision function), SVC (Platt
    scaling) and every other estimator keep their own predict().
    """
    kind = (type(estimator).__module__.split(".")[0], type(estimator).__name__)
    if kind not in ARGMAX_PREDICTORS or not hasattr(estimator, "classes_"):
        return False
    if kind[0] == "lightgbm":
        return not callable(getattr(estimator, "_objective", None))
    return getattr(estimator, "n_outputs_", 1) == 1


def check_probabilities(proba: np.ndarray, labels: list[Any] | None) -> None:
    """Class probabilities: one column per label, finite, in [0, 1], rows summing to 1."""
    if labels is not None and proba.shape[1] != len(labels):
        raise ScoringError(f"model returned {proba.shape[1]} probability columns for "
                           f"{len(labels)} labels {labels}")
    bad = ~np.isfinite(proba) | (proba < 0) | (proba > 1)
    if bad.any():
        raise ScoringError(f"model returned {int(bad.any(axis=1).sum())} row(s) with "
                           "probabilities that are missing or outside [0, 1]")
    off = np.abs(proba.sum(axis=1) - 1.0) > PROBA_TOLERANCE
    if off.any():
        raise ScoringError(f"model returned {int(off.sum())} row(s) whose class "
                           "probabilities do not sum to 1")


def check_predictions(pred: pd.Series, profile: Profile, cfg: ScoreConfig) -> None:
    """No missing predictions; labels in the training label set, or values in range."""
    if pred.isna().any():
        raise ScoringError(f"`{PREDICTION}`: model returned {int(pred.isna().sum())} missing "
                           "prediction(s)")
    if profile.task == "classification" and profile.labels is not None:
        outside = _plain(pred[~pred.isin(profile.labels)])
        if outside:
            raise ScoringError(f"`{PREDICTION}`: label(s) {_listed(outside)} outside the "
                               f"training label set {profile.labels}")
    elif profile.target_range is not None:
        _check_range(pred, profile.target_range, cfg.range_margin)


def _check_range(pred: pd.Series, bounds: list[float], margin: float) -> None:
    """Regression predictions within the training target range widened by `margin`."""
    lo, hi = bounds
    pad = margin * (hi - lo)
    values = pred.astype(float)
    bad = ~np.isfinite(values) | (values < lo - pad) | (values > hi + pad)
    if bad.any():
        raise ScoringError(f"`{PREDICTION}`: {int(bad.sum())} value(s) outside "
                           f"[{lo - pad:.6g}, {hi + pad:.6g}] (training target range "
                           f"[{lo:.6g}, {hi:.6g}] widened by score.range_margin={margin}), "
                           f"e.g. {values[bad].iloc[0]:.6g}")


def score_batch(model: Any, df: pd.DataFrame, profile: Profile, cfg: ScoreConfig,
                source: str, model_uri: str) -> tuple[pd.DataFrame, Batch]:
    """Check, predict, check predictions; return (features + labels + outputs, checked batch)."""
    batch = check_batch(df, profile, cfg, source)
    for warning in batch.warnings:
        log.warning("%s", warning)
    outputs = predict_frame(model, batch.features, profile)
    check_predictions(outputs[PREDICTION], profile, cfg)
    parts = [batch.features, *([batch.labels] if batch.labels is not None else []), outputs]
    scored = default_index(pd.concat(parts, axis=1, copy=False))
    scored[MODEL_URI] = model_uri
    return scored, batch


def reference_sample(train: pd.DataFrame, cfg: ScoreConfig) -> pd.DataFrame:
    """At most `score.reference_rows` training rows (seeded sample, original order)."""
    if len(train) <= cfg.reference_rows:
        return train
    return train.sample(cfg.reference_rows, random_state=cfg.seed).sort_index()


def score_report(scored: pd.DataFrame, batch: Batch, profile: Profile) -> dict[str, Any]:
    """Flat numbers about one scored batch (for reports/score.json and MLflow)."""
    pred = scored[PREDICTION]
    report: dict[str, Any] = {"n_rows": len(scored), "n_features": len(profile.features),
                              "has_labels": batch.labels is not None,
                              "n_unseen_categories": sum(map(len, batch.unseen.values())),
                              "unseen_categories": {c: v for c, v in batch.unseen.items()}}
    if profile.task == "classification":
        shares = pred.value_counts(normalize=True).sort_index()
        report["prediction_share"] = {str(k): round(float(v), 6) for k, v in shares.items()}
        report["probability_mean"] = round(float(scored[PROBABILITY].mean()), 6)
    else:
        report.update({f"prediction_{k}": round(float(getattr(pred, k)()), 6)
                       for k in ("mean", "min", "max")})
    return report


def batch_metric(scored: pd.DataFrame, target: str | None, task: str) -> dict[str, float] | None:
    """The model's metric on the labelled rows of a scored batch; None without labels.

    Classification: accuracy, and ROC AUC of the positive (last sorted) label when binary;
    regression: RMSE.
    """
    if not target or target not in scored.columns or scored[target].notna().sum() == 0:
        return None
    rows = scored[scored[target].notna()]
    y = rows[target]
    if task == "regression":
        return {"rmse": regression_metrics(y, rows[PREDICTION].to_numpy())["rmse"]}
    out = {"accuracy": float((y.astype(str) == rows[PREDICTION].astype(str)).mean())}
    labels = sorted(y.unique(), key=str)
    if len(labels) == 2 and PROBABILITY in rows.columns:
        out["roc_auc"] = float(skm.roc_auc_score(y == labels[-1], rows[PROBABILITY]))
    return out
