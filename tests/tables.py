"""Real tables that ship inside installed packages, as a new user's CSV files would look.

No downloads: scikit-learn's bundled loaders and statsmodels' datasets only. `churn` is
derived from statsmodels' `fair` (6,366 survey rows) to look like a typical business table:
an identifier, a signup date stored as text, string categoricals with missing values, a
numeric column with missing values, a constant column, free text and yes/no labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def breast_cancer() -> pd.DataFrame:
    """Binary, 0/1 labels, 30 numeric features (569 rows)."""
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


def wine() -> pd.DataFrame:
    """Multiclass with string labels, 3 imbalanced classes (178 rows: 59/71/48)."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    names = {0: "barolo", 1: "grignolino", 2: "barbera"}
    return frame.assign(target=frame["target"].map(names)).rename(columns={"target": "cultivar"})


def diabetes() -> pd.DataFrame:
    """Regression in its own units: disease progression 25-346 (442 rows)."""
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True, scaled=False).frame


def churn(rows: int | None = None) -> pd.DataFrame:
    """A churn-style table from statsmodels' `fair`: `churned` yes/no (had an affair)."""
    from statsmodels.datasets import fair

    src = fair.load_pandas().data
    if rows is not None:
        src = src.sample(rows, random_state=0)
    src = src.reset_index(drop=True)
    rng = np.random.default_rng(7)
    n = len(src)
    regions = np.array(["north", "south", "east", "west", "central", "islands"])
    plans = np.array(["student", "farm", "clerical", "skilled", "manager", "professional"])
    signup = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 730, n), unit="D")
    df = pd.DataFrame({
        "customer_id": [f"C{i:06d}" for i in rng.permutation(n)],
        "signup": signup.strftime("%Y-%m-%d"),
        "region": regions[src["occupation_husb"].astype(int) - 1],
        "plan": plans[src["occupation"].astype(int) - 1],
        "age": src["age"],
        "tenure_months": (src["yrs_married"] * 12).round(),
        "children": src["children"],
        "satisfaction": src["rate_marriage"].astype(int),
        "religious": src["religious"].astype(int),
        "education": src["educ"].astype(int),
        "source_system": "crm",
        "notes": [f"call {rng.integers(1e6)} re {w}" for w in rng.choice(
            ["billing", "upgrade", "outage", "moving", "price"], n)],
        "churned": np.where(src["affairs"] > 0, "yes", "no"),
    })
    df.loc[rng.choice(n, max(1, n * 150 // 4000), replace=False), "tenure_months"] = np.nan
    df["region"] = df["region"].astype(object)
    df.loc[rng.choice(n, max(1, n // 25), replace=False), "region"] = None
    return df
