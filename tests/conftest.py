"""Shared fixtures: the repository root, the real randhie table, small synthetic tables."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlgate.base.params import load_params
from mlgate.core.ingest import randhie_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository under test."""
    return ROOT


@pytest.fixture(scope="session")
def params() -> dict:
    """The committed params.yaml."""
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="session")
def randhie() -> pd.DataFrame:
    """The full RAND HIE table as shipped by statsmodels (read once per session)."""
    return pd.read_csv(randhie_path())


@pytest.fixture(scope="session")
def randhie_sample(randhie, params) -> pd.DataFrame:
    """1,200 seeded rows of RAND HIE as the model sees them (leakage and split columns gone)."""
    df = randhie.drop(columns=[*params["data"]["drop_columns"], *params["split"]["drop_columns"]])
    return df.sample(1200, random_state=0).reset_index(drop=True)


@pytest.fixture
def tiny() -> pd.DataFrame:
    """A 20-row table with a binary target, an integer code, a float and a string column."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "x": rng.normal(size=20),
        "code": rng.integers(0, 3, size=20),
        "city": rng.choice(["a", "b"], size=20),
        "year": np.repeat([1, 2, 3, 4], 5),
        "y": np.tile([0, 1], 10),
    })


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop this venv's preload servers that the stages started (once, in the controller)."""
    if not hasattr(session.config, "workerinput"):
        from mlgate.supervise import preload

        preload.stop(sys.prefix)
