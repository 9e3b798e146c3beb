"""Reading tables and writing outputs atomically."""

import json

import pandas as pd
import pytest

from mlgate.base.errors import DataError
from mlgate.base.io import read_json, read_table, write_atomic, write_json, write_parquet


def test_parquet_and_csv_round_trip(tmp_path, tiny):
    write_parquet(tmp_path / "t.parquet", tiny)
    tiny.to_csv(tmp_path / "t.csv", index=False)
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.parquet"), tiny)
    assert read_table(tmp_path / "t.csv").shape == tiny.shape


@pytest.mark.parametrize(("content", "message"), [
    (b"", "file is empty"),
    (b"a,b,a\n1,2,3\n", "duplicate column names: a"),
    (b"a,b\n\xff\xfe,1\n", "not UTF-8"),
])
def test_bad_csv_names_file_and_cause(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        read_table(path)
    assert str(path) in str(err.value)


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(DataError, match="unsupported file type '.xlsx'"):
        read_table(tmp_path / "x.xlsx")


def test_failed_write_leaves_no_file_and_no_temp(tmp_path):
    target = tmp_path / "out" / "r.json"
    target.parent.mkdir()
    target.write_text("previous")

    def crash(tmp):
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        write_atomic(target, crash)
    assert target.read_text() == "previous"
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]


def test_write_json_converts_numpy_and_overwrites(tmp_path):
    import numpy as np

    target = tmp_path / "r.json"
    write_json(target, {"a": 1})
    write_json(target, {"a": np.float64(0.5), "n": np.int64(3)})
    assert json.loads(target.read_text()) == {"a": 0.5, "n": 3}
    assert read_json(target)["n"] == 3
