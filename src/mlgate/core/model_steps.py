"""Steps mlgate puts inside the model pipeline, so they travel with the model everywhere.

Kept free of mlgate imports and heavy dependencies: the logged model pickles this module by
value (cloudpickle), so loading the model needs neither mlgate nor this file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class MissingAsNaN:
    """Make every missing value in text columns `np.nan`, as scikit-learn expects.

    Parquet, JSON (`mlflow models serve`) and Spark hand missing strings over as `None`
    (or `pd.NA`); scikit-learn's `SimpleImputer(missing_values=np.nan)`, which PyCaret's
    categorical imputer is, does not treat `None` as missing, so such rows reach estimators
    that cannot take missing values (linear models, naive Bayes) and fail at predict time.
    Numeric columns are left alone (pandas already stores their missing values as NaN).
    """

    def fit(self, X: pd.DataFrame, y: object = None) -> MissingAsNaN:
        """Stateless: nothing to learn."""
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """X with None / pd.NA replaced by np.nan in object, string and category columns."""
        if not isinstance(X, pd.DataFrame):
            return X
        text = [c for c in X.columns
                if X[c].dtype == object or isinstance(X[c].dtype, pd.StringDtype)]
        missing = [c for c in text if X[c].isna().any()]
        if not missing:
            return X
        out = X.copy()
        for col in missing:
            values = out[col].astype(object)
            out[col] = values.where(values.notna(), np.nan)
        return out

    def fit_transform(self, X: pd.DataFrame, y: object = None) -> pd.DataFrame:
        """fit then transform."""
        return self.fit(X, y).transform(X)

    def get_params(self, deep: bool = True) -> dict:
        """No parameters (scikit-learn's clone needs this)."""
        return {}

    def set_params(self, **params: object) -> MissingAsNaN:
        """No parameters."""
        return self
