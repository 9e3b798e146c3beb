"""`mlgate data add`: one file written, composable, never overwritten, bad input named."""

import shutil
from pathlib import Path

import pytest

from mlgate.adapters.compose import compose
from mlgate.cli.main import main
from tests.tables import churn, wine

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """The project's conf/ and dvc.yaml in a fresh folder, with two tables under data/external."""
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "data/external").mkdir(parents=True)
    wine().to_csv(tmp_path / "data/external/wine.csv", index=False)
    churn(1500).to_parquet(tmp_path / "data/external/Churn 2024.parquet", index=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    return tmp_path


def fails(args: list[str], caplog) -> str:
    """Run the CLI expecting exit 1 and one error line; return it."""
    caplog.clear()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 1
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].exc_info is None, "one line, no traceback"
    return errors[0].getMessage()


def test_writes_one_profile_that_composes_and_prints_the_next_command(repo, capsys):
    main(["data", "add", "data/external/wine.csv", "--target", "cultivar"])
    out = capsys.readouterr().out
    assert "task:        multiclass (3 classes)" in out
    assert "dvc exp run -S data=wine" in out
    assert sorted(p.name for p in (repo / "conf/data").glob("*.yaml")) == ["randhie.yaml",
                                                                          "wine.yaml"]
    params = compose(repo, ["data=wine"])
    assert params["task"]["sort"] == "MCC" and params["data"]["target"] == "cultivar"
    assert params["gate"]["model_name"] == "mlgate-wine"
    assert params["validate"]["target_values"] == ["barbera", "barolo", "grignolino"]
    assert params["split"]["current_share"] == 0.2
    assert "mlgate data add data/external/wine.csv --target cultivar" in \
        (repo / "conf/data/wine.yaml").read_text()


def test_parquet_with_a_name_derived_from_the_file(repo, capsys):
    main(["data", "add", "data/external/Churn 2024.parquet", "--target", "churned"])
    params = compose(repo, ["data=churn_2024"])
    assert params["data"]["source"] == "data/external/Churn 2024.parquet"
    assert params["data"]["datetime"] == {"signup": None}
    assert params["split"]["drop_columns"] == ["signup"]
    assert set(params["data"]["drop_columns"]) == {"customer_id", "source_system", "notes"}
    assert params["data"]["id"] == "customer_id"  # late labels join by it (mlgate watch)


def test_never_overwrites_without_force(repo, caplog):
    main(["data", "add", "data/external/wine.csv", "--target", "cultivar"])
    profile = repo / "conf/data/wine.yaml"
    before = profile.read_text()
    err = fails(["data", "add", "data/external/wine.csv", "--target", "alcohol"], caplog)
    assert "conf/data/wine.yaml exists; pass --force" in err and profile.read_text() == before
    main(["data", "add", "data/external/wine.csv", "--target", "alcohol", "--force"])
    assert compose(repo, ["data=wine"])["task"]["type"] == "regression"


@pytest.mark.parametrize(("args", "message"), [
    (["data/external/wine.csv", "--target", "grape"], "no column `grape` (--target)"),
    (["data/external/nope.csv", "--target", "y"], "nope.csv: file not found"),
    (["data/external/wine.csv", "--target", "cultivar", "--name", "Bad-Name"], "--name"),
    (["data/external/wine.csv", "--target", "cultivar", "--current", "alcohol > 99"],
     "selects 0 of 178 rows"),
    (["data/external/wine.csv", "--target", "cultivar", "--task", "regression"], "not numeric"),
])
def test_bad_input_is_named_and_writes_nothing(repo, caplog, args, message):
    err = fails(["data", "add", *args], caplog)
    assert message in err
    assert sorted(p.name for p in (repo / "conf/data").glob("*.yaml")) == ["randhie.yaml"]


def test_a_file_outside_the_repository_is_refused(repo, tmp_path_factory, caplog):
    outside = tmp_path_factory.mktemp("elsewhere") / "t.csv"
    wine().to_csv(outside, index=False)
    assert "outside the repository" in fails(["data", "add", str(outside), "--target",
                                               "cultivar"], caplog)
