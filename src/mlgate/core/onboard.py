"""Onboard a table: infer everything the pipeline needs to know about it (pure).

`infer_profile` looks at a table once and decides, with a reason for each decision, what
the data profile `conf/data/<name>.yaml` says: the target and task, the class labels, the
schema, the columns to drop (identifiers, constants, free text), the categorical, datetime
and period columns, the current-batch rule, the registered model's name, the gate's slices,
the drift check's important columns and the retrain rule. `mlgate.profile_yaml` writes it;
`mlgate data add` is the command.

Kinds, cardinalities and date formats are inferred on a seeded sample of rows (at most
`sample_rows`); row counts, null shares, category sets and the quantiles that place the
current-batch cut are computed on every row, so that validation of the whole table passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mlgate.base.errors import ConfigError, DataError
from mlgate.base.frames import row_mask
from mlgate.core.validation import is_integer_column

SAMPLE_ROWS = 100_000        # rows looked at to infer kinds, cardinalities and date formats
MAX_CATEGORIES = 50          # a text column with at most this many values is categorical
MIN_CATEGORY_ROWS = 20       # ... and is checked when scoring if every value has this many rows
TEXT_DISTINCT_SHARE = 0.5    # beyond MAX_CATEGORIES: this share of distinct values = free text
MAX_CLASSES = 50             # a target with more values than this is not a classification
CLASS_MAX_INTEGER_VALUES = 20  # an integer target with at most this many values: classes
DATE_SHARE = 0.95            # share of sampled values a date format must parse
# A period column orders the batches (RAND HIE's `year`, a survey `wave`): named like one
# (singular, at the end: `year`, `fiscal_year`, not `tenure_months`) with few values.
PERIOD_NAME = re.compile(r"(^|_)(year|yr|period|month|quarter|week|wave|round|cohort|season|"
                         r"batch)$", re.IGNORECASE)
MAX_PERIODS = 20
CURRENT_SHARE = 0.2          # the current batch: about the last fifth of the rows
TEST_SIZE = 0.2              # split.test_size written to the profile
RETRAIN_SHARE = 0.1          # `mlgate retrain` folds half of it into the model data
NULL_HEADROOM = 0.05         # allowed null share = observed share + this
SLICE_HINT = re.compile(r"sex|gender|race|ethnic|age|region|country|state|site|group|"
                        r"segment|island|plan|tier|channel", re.IGNORECASE)
MAX_SLICE_LEVELS = 10
MAX_SLICES = 2
MIN_SLICE_SHARE = 0.02       # every level of a slice column holds at least this share
IMPORTANT_COLUMNS = 3
IMPORTANCE_ROWS = 5000       # rows of the mutual-information (and leakage) estimate
LEAKAGE_SCORE = 0.99         # one feature alone predicts the target this well: measured after it?
FEW_ROWS_PER_CLASS = 10
SEED = 42
DATE_FORMATS = ("ISO8601", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y",
                "%m-%d-%Y", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%b %d, %Y", "%d %b %Y",
                "%d %B %Y", "%B %d, %Y")
DATE_LIKE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|[A-Za-z]{3,9}\.? \d{1,2},? \d{4}|"
                       r"\d{1,2} [A-Za-z]{3,9}\.? \d{4}")


@dataclass
class Column:
    """What the profile says about one column, and why."""

    name: str
    kind: str  # integer | numeric | bool | string | datetime (validate.columns kinds)
    role: str  # feature | target | identifier | constant | text | datetime | period
    reason: str = ""
    null_share: float = 0.0
    distinct: int = 0
    categories: list[Any] | None = None  # categorical: every value, sorted
    rarest: int = 0  # categorical: rows of its rarest value
    date_format: str | None = None  # datetime stored as text: how to parse it


@dataclass
class Profile:
    """Everything `conf/data/<name>.yaml` says about one table, with the reasons."""

    name: str
    source: str
    target: str
    task: str  # classification | multiclass | regression (the conf/task option)
    task_reason: str
    n_rows: int
    columns: dict[str, Column]
    labels: list[Any] | None = None
    label_shares: dict[str, float] = field(default_factory=dict)
    target_filter: str | None = None
    current: str | None = None
    current_share: float | None = None
    current_reason: str = ""
    retrain: list[str] = field(default_factory=list)
    retrain_reason: str = ""
    slices: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    slice_reason: str = ""
    important: list[str] = field(default_factory=list)
    important_reason: str = ""
    warnings: list[str] = field(default_factory=list)
    sample_rows: int = 0
    leakage: dict[str, float] = field(default_factory=dict)  # feature -> single-feature score

    @property
    def model_name(self) -> str:
        """The registered model's name."""
        return f"mlgate-{self.name}"

    def with_role(self, *roles: str) -> list[str]:
        """Column names with one of `roles`, in table order."""
        return [c.name for c in self.columns.values() if c.role in roles]

    @property
    def categorical(self) -> list[str]:
        """Feature columns with a small set of values, each frequent enough to be checked.

        Scoring refuses values a categorical column never had in training; a value on fewer
        than MIN_CATEGORY_ROWS rows may miss the training split and fail the pipeline's own
        current batch, so such columns stay plain features (validation still lists values).
        """
        return [c.name for c in self.columns.values() if c.role == "feature"
                and c.categories is not None and c.rarest >= MIN_CATEGORY_ROWS]

    @property
    def rare_categorical(self) -> list[str]:
        """Categorical-sized columns left out of `categorical` for a rare value."""
        return [c.name for c in self.columns.values() if c.role == "feature"
                and c.categories is not None and c.rarest < MIN_CATEGORY_ROWS]


def value_kind(s: pd.Series) -> str:
    """The validate.columns kind of a column as stored."""
    if ptypes.is_bool_dtype(s):
        return "bool"
    if ptypes.is_datetime64_any_dtype(s):
        return "datetime"
    if is_integer_column(s):
        return "integer"
    if ptypes.is_numeric_dtype(s):
        return "numeric"
    return "string"


def looks_like_dates(sample: pd.Series) -> tuple[bool, str | None]:
    """(True, format or None for ISO 8601) when a text column holds dates."""
    values = sample.dropna()
    values = values[values.map(lambda v: isinstance(v, str))].head(1000)
    if values.empty or values.str.contains(DATE_LIKE).mean() < DATE_SHARE:
        return False, None
    for fmt in DATE_FORMATS:
        if pd.to_datetime(values, errors="coerce", format=fmt).notna().mean() >= DATE_SHARE:
            return True, None if fmt == "ISO8601" else fmt
    return False, None


def is_prose(sample: pd.Series) -> bool:
    """True when most values are several words (free text, not codes)."""
    values = sample.dropna().astype(str).head(1000)
    return bool(len(values) and values.str.contains(r"\S\s+\S").mean() > 0.5)


def plain(value: Any) -> Any:
    """numpy scalars -> Python scalars (YAML, JSON)."""
    return value.item() if hasattr(value, "item") else value


def sorted_values(s: pd.Series) -> list[Any]:
    """Distinct non-null values as plain scalars, sorted (mixed types by their text)."""
    values = [plain(v) for v in s.dropna().unique().tolist()]
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def describe_column(name: str, full: pd.Series, sample: pd.Series, n_rows: int) -> Column:
    """Kind and role of one non-target column, with the reason."""
    nulls = float(full.isna().mean())
    distinct = int(full.nunique(dropna=True))
    col = Column(name, value_kind(full), "feature", null_share=nulls, distinct=distinct)
    if distinct <= 1:
        col.role = "constant"
        col.reason = ("every value is missing" if distinct == 0 else
                      f"a single value ({sorted_values(full)[0]!r}) in every row"
                      + (" (others missing)" if nulls else ""))
        return col
    if col.kind == "datetime":
        col.role, col.reason = "datetime", "stored as a datetime"
        return col
    if col.kind == "string":
        is_date, fmt = looks_like_dates(sample)
        if is_date:
            col.kind, col.role, col.date_format = "datetime", "datetime", fmt
            col.reason = f"dates stored as text (format {fmt or 'ISO 8601'}, e.g. " \
                         f"{sample.dropna().iloc[0]!r})"
            return col
        if distinct == n_rows and not nulls and not is_prose(sample):
            col.role, col.reason = "identifier", "unique in every row: an identifier"
            return col
        if distinct <= MAX_CATEGORIES:
            col.categories, col.rarest = sorted_values(full), int(full.value_counts().min())
            col.reason = f"categorical: {distinct} values"
            return col
        if distinct / max(full.notna().sum(), 1) > TEXT_DISTINCT_SHARE:
            col.role = "text"
            col.reason = (f"free text or very high cardinality: {distinct} distinct values in "
                          f"{int(full.notna().sum())} rows")
            return col
        col.reason = f"text with {distinct} values (PyCaret encodes it; no category check)"
        return col
    if col.kind == "integer" and distinct == n_rows and not nulls:
        col.role, col.reason = "identifier", "a unique integer in every row: an identifier"
        return col
    if col.kind == "integer" and PERIOD_NAME.search(name) and distinct <= MAX_PERIODS:
        col.role = "period"
        col.reason = f"a period column ({distinct} values): orders the batches"
        return col
    if col.kind == "bool":
        col.categories, col.rarest = sorted_values(full), int(full.value_counts().min())
        col.reason = "boolean"
        return col
    col.reason = f"{col.kind}: {distinct} distinct values"
    return col


def infer_task(y: pd.Series, task: str) -> tuple[str, str]:
    """(conf/task option, why) for target `y`; `task` is auto, classification or regression."""
    values = y.dropna()
    distinct = int(values.nunique())
    if distinct < 2:
        raise DataError(f"target `{y.name}`: needs at least 2 distinct values, found {distinct}")
    numeric = ptypes.is_numeric_dtype(values) and not ptypes.is_bool_dtype(values)
    if task == "regression":
        if not numeric:
            raise DataError(f"target `{y.name}` is not numeric ({y.dtype}): it cannot be a "
                            "regression target; use --task classification")
        return "regression", "--task regression"
    if task == "auto" and numeric and not (is_integer_column(values)
                                           and distinct <= CLASS_MAX_INTEGER_VALUES):
        why = "integer" if is_integer_column(values) else "non-integer"
        return "regression", f"numeric target with {distinct} {why} values"
    if distinct > MAX_CLASSES:
        raise DataError(f"target `{y.name}` has {distinct} distinct values, more than "
                        f"{MAX_CLASSES} classes; use --task regression if it is a quantity")
    why = f"{distinct} classes" + ("" if task == "auto" else f" (--task {task})")
    return ("classification" if distinct == 2 else "multiclass"), why


def current_rule(df: pd.DataFrame, cols: dict[str, Column]) -> tuple[str | None, str, list[str],
                                                                        str]:
    """(rule, why, retrain overrides, why) from a datetime or period column; (None, ...) if none.

    Datetime: the current batch is the last CURRENT_SHARE of rows in time; retraining moves
    the cut to the last RETRAIN_SHARE, so half of that batch joins the model data. Period:
    the last two periods when there are four or more (the last one otherwise); retraining
    keeps only the last one as the batch.
    """
    for col in (c for c in cols.values() if c.role == "datetime"):
        times = parse(df[col.name], col).dropna()
        if times.nunique() < 2:
            continue
        cut, later = times.quantile(1 - CURRENT_SHARE), times.quantile(1 - RETRAIN_SHARE)
        cut_text, later_text = stamp(cut, times), stamp(later, times)
        if cut_text == later_text or (times >= cut).all():
            continue
        rule = f"{quote_name(col.name)} >= {cut_text!r}"
        share = float((times >= pd.Timestamp(cut_text)).mean())
        return (rule, f"`{col.name}` is a datetime: the latest {share:.0%} of rows (by time) "
                      "form the current batch",
                [f"split.current={quote_arg(f'{quote_name(col.name)} >= {later_text!r}')}"],
                f"moves the cut to {later_text}: the older half of the current batch joins "
                "the model data")
    for col in (c for c in cols.values() if c.role == "period"):
        periods = sorted_values(df[col.name])
        counts = df[col.name].value_counts()
        cut = periods[-2] if len(periods) >= 4 and \
            counts.loc[periods[-2:]].sum() <= 0.5 * len(df) else periods[-1]
        rule = f"{quote_name(col.name)} >= {cut}"
        share = float((df[col.name] >= cut).mean())
        if cut != periods[-1]:
            retrain = [f"split.current={quote_arg(f'{quote_name(col.name)} >= {periods[-1]}')}"]
            why = f"{col.name} {cut} joins the model data; {periods[-1]} stays the unseen batch"
        else:
            retrain, why = [], "the current batch is a single period: nothing to fold in"
        return (rule, f"`{col.name}` is a period column: {col.name} >= {cut} ({share:.0%} of "
                      "rows) is the current batch", retrain, why)
    return None, "", [], ""


def parse(s: pd.Series, col: Column) -> pd.Series:
    """A datetime column's values as timestamps (text parsed with its format)."""
    if ptypes.is_datetime64_any_dtype(s):
        return s
    return pd.to_datetime(s, errors="coerce", format=col.date_format or "ISO8601")


def stamp(t: pd.Timestamp, times: pd.Series) -> str:
    """A cut point as text: a date when every value is midnight, else a full timestamp."""
    if (times.dt.normalize() == times).all():
        return t.ceil("D").strftime("%Y-%m-%d")
    return t.floor("s").isoformat()


def quote_name(name: str) -> str:
    """A column name as a pandas expression needs it (backticks unless an identifier)."""
    return name if name.isidentifier() else f"`{name}`"


def quote_arg(value: str) -> str:
    """A Hydra override value in single quotes (the expression holds double quotes)."""
    return "'" + value.replace("'", '"') + "'"


def slice_floors(df: pd.DataFrame, target: str, task: str, cols: dict[str, Column],
                 test_rows: float, min_rows: int) -> tuple[dict[str, dict[str, dict[str, float]]],
                                                           str]:
    """Up to MAX_SLICES low-cardinality columns, each with a floor a baseline sets.

    Candidates are text or boolean columns with 2..MAX_SLICE_LEVELS values, and integer
    columns with two values (flags) or a name that suggests groups (SLICE_HINT), each value
    on at least MIN_SLICE_SHARE of rows, and at least two of them expected to reach
    `min_rows` (gate.slice_min_rows) among the `test_rows` test rows, so that the floor is
    checked at all; hinted names come first, then the most balanced.
    Classification: accuracy on every slice at least the majority class's overall share;
    regression: RMSE at most the target's standard deviation (the mean predictor's RMSE).
    """
    ranked = []
    for c in cols.values():
        if c.role != "feature" or not 2 <= c.distinct <= MAX_SLICE_LEVELS:
            continue
        if c.categories is None and not (c.kind == "integer" and (
                c.distinct == 2 or SLICE_HINT.search(c.name))):
            continue  # a count or a score, not a group
        shares = df[c.name].value_counts(normalize=True)
        if shares.min() >= MIN_SLICE_SHARE and (shares * test_rows >= min_rows).sum() >= 2:
            ranked.append((not SLICE_HINT.search(c.name), -float(shares.min()), c.name))
    chosen = [name for *_, name in sorted(ranked)[:MAX_SLICES]]
    if not chosen:
        return {}, (f"no categorical column with 2-{MAX_SLICE_LEVELS} values, each on at least "
                    f"{MIN_SLICE_SHARE:.0%} of the rows, two of them on at least "
                    f"gate.slice_min_rows = {min_rows} of the ~{test_rows:.0f} test rows")
    y = df[target].dropna()
    if task == "regression":
        floor = {"rmse": {"max": float(f"{y.std():.3g}")}}
        why = (f"RMSE on each value at most {floor['rmse']['max']}, the target's standard "
               "deviation (what predicting the mean scores)")
    else:
        share = float(np.floor(y.value_counts(normalize=True).max() * 100) / 100)
        floor = {"accuracy": {"min": share}}
        why = (f"accuracy on each value at least {share}, the majority class's share (what "
               "always predicting it scores)")
    return {name: floor for name in chosen}, why


def important_columns(df: pd.DataFrame, target: str, task: str,
                      cols: dict[str, Column]) -> tuple[list[str], str]:
    """The features most informative about the target (mutual information on a sample)."""
    from sklearn.feature_selection import (  # lazy: scikit-learn: only the leakage check needs it
        mutual_info_classif,
        mutual_info_regression,
    )

    features = [c.name for c in cols.values() if c.role == "feature"]
    if not features:
        return [], "no features"
    rows = df.sample(min(len(df), IMPORTANCE_ROWS), random_state=SEED)[[*features, target]]
    X, discrete = pd.DataFrame(index=rows.index), []
    for name in features:
        s = rows[name]
        if cols[name].kind in ("integer", "numeric"):
            X[name] = s.astype(float).fillna(s.astype(float).median())
            discrete.append(cols[name].kind == "integer" and cols[name].distinct <= 20)
        else:
            X[name] = pd.factorize(s.astype(str))[0]
            discrete.append(True)
    y = rows[target]
    if task == "regression":
        scores = mutual_info_regression(X, y.astype(float), discrete_features=discrete,
                                        random_state=SEED)
    else:
        scores = mutual_info_classif(X, pd.factorize(y.astype(str))[0],
                                     discrete_features=discrete, random_state=SEED)
    order = np.argsort(-scores, kind="stable")[:IMPORTANT_COLUMNS]
    chosen = [features[i] for i in order if scores[i] > 0]
    return chosen, (f"the {len(chosen)} features most informative about `{target}` (mutual "
                    f"information on {len(rows):,} rows); revisit once the champion's "
                    "feature importance is known")


def leakage_suspects(df: pd.DataFrame, target: str, task: str, cols: dict[str, Column],
                     rows: int = IMPORTANCE_ROWS) -> dict[str, float]:
    """Features that alone predict the target almost perfectly, with their score.

    Binary: the ROC AUC of the feature's values (missing ones as lowest), either direction;
    regression: the absolute Spearman correlation. Such a column is often measured after
    the target (RAND HIE's spend columns for `binexp`): the user decides.
    """
    from sklearn.metrics import roc_auc_score  # lazy: scikit-learn: only the leakage check needs it

    if task == "multiclass":
        return {}
    sample = df.sample(min(len(df), rows), random_state=SEED)
    y = sample[target]
    found = {}
    for c in cols.values():
        if c.role != "feature" or c.kind not in ("integer", "numeric", "bool"):
            continue
        x = sample[c.name].astype(float)
        x = x.fillna(x.min() - 1 if x.notna().any() else 0.0)
        if x.nunique() < 2:
            continue
        if task == "regression":
            score = abs(float(x.corr(y.astype(float), method="spearman")))
        else:
            auc = float(roc_auc_score(y == sorted_values(y)[-1], x))
            score = max(auc, 1 - auc)
        if score >= LEAKAGE_SCORE:
            found[c.name] = round(score, 4)
    return found


def infer_profile(df: pd.DataFrame, target: str, name: str, source: str, task: str = "auto",
                  current: str | None = None, sample_rows: int = SAMPLE_ROWS,
                  slice_min_rows: int = 100) -> Profile:
    """Infer the data profile of table `df` (read from `source`) predicting `target`.

    `slice_min_rows` is the gate's gate.slice_min_rows: slices too small to be checked
    are not proposed.
    """
    if target not in df.columns:
        raise DataError(f"{source}: no column `{target}` (--target); columns: "
                        f"{', '.join(map(str, df.columns))}")
    if task not in ("auto", "classification", "regression"):
        raise ConfigError(f"--task must be auto, classification or regression, not {task!r}")
    if len(df) < 2:
        raise DataError(f"{source}: {len(df)} data row(s); a model needs many more")
    bad = [c for c in df.columns if not isinstance(c, str)]
    if bad:
        raise DataError(f"{source}: column names must be text, found {bad[:5]}")
    sample = df.sample(min(len(df), sample_rows), random_state=SEED) \
        if len(df) > sample_rows else df
    option, task_reason = infer_task(df[target], task)
    cols = {c: describe_column(c, df[c], sample[c], len(df)) for c in df.columns if c != target}
    y = df[target]
    cols[target] = Column(target, value_kind(y), "target", reason=task_reason,
                          null_share=float(y.isna().mean()), distinct=int(y.nunique()))
    prof = Profile(name, source, target, option, task_reason, len(df), cols,
                   sample_rows=len(sample))
    labelled = df[y.notna()] if y.isna().any() else df  # (a mask copies every column)
    if y.isna().any():
        prof.target_filter = f"{quote_name(target)}.notna()"
        prof.warnings.append(f"{int(y.isna().sum())} row(s) have no `{target}`: data.filter "
                             "keeps the labelled ones")
    if option != "regression":
        prof.labels = sorted_values(y)
        shares = labelled[target].value_counts(normalize=True)
        prof.label_shares = {str(plain(k)): round(float(v), 4) for k, v in shares.items()}
        rare = {str(plain(k)): int(v) for k, v in labelled[target].value_counts().items()
                if v < FEW_ROWS_PER_CLASS}
        if rare:
            prof.warnings.append(f"class(es) with fewer than {FEW_ROWS_PER_CLASS} rows: {rare}; "
                                 "cross-validation needs train.fold rows of each class")
    model_rows = place_current(prof, labelled, current)
    prof.slices, prof.slice_reason = slice_floors(labelled, target, option, cols,
                                                  model_rows * TEST_SIZE, slice_min_rows)
    prof.important, prof.important_reason = important_columns(labelled, target, option, cols)
    prof.leakage = leakage_suspects(labelled, target, option, cols)
    if prof.leakage:
        what = "ROC AUC" if option == "classification" else "|Spearman correlation|"
        prof.warnings.append(
            f"possible leakage: {', '.join(f'{k} ({what} {v})' for k, v in prof.leakage.items())}"
            f" alone predict `{target}` almost perfectly; if they are measured after it, add "
            "them to data.drop_columns")
    return prof


def place_current(prof: Profile, df: pd.DataFrame, current: str | None) -> int:
    """The current-batch rule: --current, else a datetime/period column, else a share.

    Returns the number of model rows (those not in the current batch).
    """
    if current:
        mask = row_mask(df, current, "--current")
        if mask.all() or not mask.any():
            raise ConfigError(f"--current {current!r} selects {int(mask.sum())} of {len(df)} "
                              "rows; the current batch and the model data must both be "
                              "non-empty")
        prof.current, prof.current_reason = current, f"--current ({mask.mean():.0%} of rows)"
        prof.retrain_reason = ("--current was given: write how to fold the batch in, e.g. "
                               "split.current='<a later cut>'")
        return int((~mask).sum())
    rule, why, retrain, retrain_why = current_rule(df, prof.columns)
    if rule:
        prof.current, prof.current_reason = rule, why
        prof.retrain, prof.retrain_reason = retrain, retrain_why
        return int((~row_mask(prepared(df, prof.columns), rule, "split.current")).sum())
    prof.current_share = CURRENT_SHARE
    prof.current_reason = (f"no datetime or period column: a seeded {CURRENT_SHARE:.0%} of rows "
                           "is held out as the current batch")
    prof.retrain = [f"split.current_share={RETRAIN_SHARE}"]
    prof.retrain_reason = "half of the held-out rows join the model data"
    return len(df) - round(CURRENT_SHARE * len(df))


def prepared(df: pd.DataFrame, cols: dict[str, Column]) -> pd.DataFrame:
    """df with its datetime columns parsed, as ingest leaves it for the split rule."""
    dates = {c.name: parse(df[c.name], c) for c in cols.values() if c.role == "datetime"}
    return df.assign(**dates) if dates else df
