"""Unit tests for `mlgate watch`: the ledger, holding and combining, quarantine, exactly once,
late labels, the actions (mlgate.core.watch, mlgate.pipeline.watch).

The champion and the drift check are replaced by fakes with the real contract check: what is
tested here is the watcher's bookkeeping. tests/e2e/test_watch.py runs it for real.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlgate.adapters.champion import Scorer
from mlgate.base.errors import ConfigError, DataError
from mlgate.core.scoring import PREDICTION, PROBABILITY, profile_from_frame
from mlgate.core.watch import WatchConfig, batch_name, candidates, groups
from mlgate.pipeline import watch as watch_mod
from mlgate.pipeline.drift import Contract
from tests.defaults import composed

TARGET = "y"
SCORER = Scorer(model=None, uri="models:/m/1", source="registry", version="1")


def frame(n: int, seed: int, shift: float = 0.0, labelled: bool = True,
          start: int = 0) -> pd.DataFrame:
    """A batch: `x` numeric (shifted to make it drift), `g` categorical, `rid` an id."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"rid": np.arange(start, start + n), "x": rng.normal(shift, 1, n),
                       "g": rng.choice(["a", "b"], n)})
    if labelled:
        df[TARGET] = (df["x"] > 0).astype(int)
    return df


def fake_check(params, contract, batch, name, source):
    """A drift check whose action follows the batch's mean of x (like a real shift would)."""
    mean = float(batch["x"].mean())
    action = "investigate" if mean > 5 else "retrain" if mean > 1 else "none"
    scored = batch.copy()
    scored[PREDICTION] = (scored["x"] > 0).astype(int)
    scored[PROBABILITY] = 0.5
    CALLS.append(name)
    return ({"model_version": "1", "action": action, "verdict": "drift" if mean > 1 else
             "no_drift", "share_drifted": 0.5 if mean > 1 else 0.0, "n_drifted": 1,
             "n_columns": 2, "monitor_snapshot": f"snap-{name}"}, None, scored)


CALLS: list[str] = []


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """An inbox, params with a small min_rows, a fake champion; experiments recorded."""
    CALLS.clear()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    params = copy.deepcopy(composed())
    params["monitor"]["watch"].update(min_rows=100, settle_s=0, retrain="run")
    params["data"]["id"] = "rid"
    params["data"]["drop_columns"] = []
    params["split"]["drop_columns"] = []
    train = frame(200, 0).drop(columns=["rid"])
    profile = profile_from_frame(train, TARGET, ["g"])
    contract = Contract(scorer=SCORER, profile=profile, reference=train)
    monkeypatch.setattr(watch_mod, "champion_contract", lambda p: contract)
    monkeypatch.setattr(watch_mod, "check_delivery", fake_check)
    started: list[list[str]] = []
    delivered: dict[str, pd.DataFrame] = {}
    monkeypatch.setattr(watch_mod.experiments, "deliver",
                        lambda root, name, df: delivered.__setitem__(name, df))
    monkeypatch.setattr(watch_mod.experiments, "withdraw",
                        lambda root, name: delivered.pop(name, None))
    monkeypatch.setattr(watch_mod.experiments, "start", lambda cmd, root: started.append(cmd))
    metrics: list[tuple[str, dict]] = []
    monkeypatch.setattr(watch_mod, "set_metric",
                        lambda cfg, model, sid, metric, root: metrics.append((sid, metric)))
    monkeypatch.setattr(watch_mod, "add_quality_snapshot", lambda *a, **k: "q")
    return {"inbox": inbox, "params": params, "root": tmp_path, "started": started,
            "delivered": delivered, "metrics": metrics}


def drop(inbox: Path, name: str, df: pd.DataFrame, age: float = 0.0) -> Path:
    """Deliver a file, `age` seconds old (arrival order is modification time)."""
    path = inbox / name
    (df.to_parquet if name.endswith(".parquet") else df.to_csv)(path, index=False)
    stamp = time.time() - 1000 + age
    os.utime(path, (stamp, stamp))
    return path


def run(s: dict, **kw) -> list[dict]:
    return watch_mod.watch(s["params"], s["inbox"], once=True, root=s["root"], **kw)


def ledger(s: dict) -> dict:
    return json.loads((s["inbox"] / ".mlgate/ledger.json").read_text())


def test_watch_config_names_the_bad_key() -> None:
    good = composed()["monitor"]["watch"]
    assert WatchConfig.from_params(good).min_rows >= 1
    for key, value, message in [("min_rows", 0, "monitor.watch.min_rows"),
                                ("retrain", "later", "monitor.watch.retrain"),
                                ("holdout_share", 1.0, "monitor.watch.holdout_share"),
                                ("inbox", "", "monitor.watch.inbox")]:
        with pytest.raises(ConfigError, match=message):
            WatchConfig.from_params({**good, key: value})
    with pytest.raises(ConfigError, match="monitor.watch.every"):
        WatchConfig.from_params({**good, "every": 3})


def test_groups_combine_small_files_in_order_and_hold_the_rest() -> None:
    assert groups([("a", 500), ("b", 50), ("c", 60), ("d", 200), ("e", 10)], 100) == (
        [["a"], ["b", "c"], ["d"]], ["e"])
    assert groups([("a", 10)], 100) == ([], ["a"])
    assert batch_name(["day 3.csv"]) == "day_3"
    assert batch_name(["b1.csv", "b2.csv", "b3.parquet"]) == "b1+2"


def test_candidates_skip_partial_hidden_recent_and_other_files(tmp_path) -> None:
    for name in ("b.csv", "a.parquet", "c.csv.part", ".d.csv", "e.txt", "f.tmp"):
        (tmp_path / name).write_text("x")
    os.utime(tmp_path / "b.csv", (time.time() - 100,) * 2)
    os.utime(tmp_path / "a.parquet", (time.time() - 50,) * 2)
    (tmp_path / "sub").mkdir()
    assert [p.name for p in candidates(tmp_path, time.time(), 10)] == ["b.csv", "a.parquet"]
    (tmp_path / "g.csv").write_text("x")  # just written: may still be in progress
    assert "g.csv" not in [p.name for p in candidates(tmp_path, time.time(), 10)]


def test_each_file_once_small_ones_combined_bad_ones_quarantined(setup) -> None:
    s = setup
    drop(s["inbox"], "b1.csv", frame(150, 1), 1)
    drop(s["inbox"], "s1.csv", frame(60, 2), 2)
    drop(s["inbox"], "bad.csv", frame(50, 3).assign(g="zzz"), 3)
    drop(s["inbox"], "s2.parquet", frame(60, 4), 4)
    drop(s["inbox"], "s3.csv", frame(30, 5), 5)
    done = run(s)
    assert [b["name"] for b in done] == ["b1", "s1+1"] == CALLS
    assert done[1]["files"] == ["s1.csv", "s2.parquet"] and done[1]["rows"] == 120
    book = ledger(s)
    assert book["files"]["s3.csv"]["status"] == "held"
    assert book["files"]["bad.csv"]["status"] == "quarantined"
    assert not (s["inbox"] / "bad.csv").exists()
    error = (s["inbox"] / "quarantine/bad.csv.error.txt").read_text()
    assert "bad.csv" in error and "`g`: unseen category 'zzz'" in error

    assert run(s) == [] and CALLS == ["b1", "s1+1"]  # a second run: nothing again
    drop(s["inbox"], "s4.csv", frame(80, 6), 6)
    assert [b["name"] for b in run(s)] == ["s3+1"]  # the held file joins the next one
    assert len(ledger(s)["batches"]) == 3


def test_a_file_changed_after_processing_is_refused(setup) -> None:
    s = setup
    path = drop(s["inbox"], "b1.csv", frame(150, 1), 1)
    run(s)
    frame(150, 9).to_csv(path, index=False)
    assert run(s) == []
    assert "already processed with other content" in (
        s["inbox"] / "quarantine/b1.csv.error.txt").read_text()
    assert ledger(s)["files"]["b1.csv"]["status"] == "done"  # the done record is kept


def test_a_crash_before_the_ledger_commit_redoes_the_batch_once(setup, monkeypatch) -> None:
    s = setup
    drop(s["inbox"], "b1.csv", frame(150, 1), 1)

    def crash(*a):
        raise SystemExit("killed")

    monkeypatch.setattr(watch_mod, "write_parquet", crash)  # after the check, before commit
    with pytest.raises(SystemExit):
        run(s)
    assert ledger(s)["files"]["b1.csv"]["status"] == "held" and ledger(s)["batches"] == []
    monkeypatch.undo()
    monkeypatch.setattr(watch_mod, "champion_contract", setup_contract(s))
    monkeypatch.setattr(watch_mod, "check_delivery", fake_check)
    assert [b["name"] for b in run(s)] == ["b1"]
    assert [b["name"] for b in ledger(s)["batches"]] == ["b1"]
    assert CALLS == ["b1", "b1"]  # redone with the same name: its snapshot is replaced


def setup_contract(s: dict):
    train = frame(200, 0).drop(columns=["rid"])
    contract = Contract(scorer=SCORER, profile=profile_from_frame(train, TARGET, ["g"]),
                        reference=train)
    return lambda p: contract


def test_retrain_folds_the_batch_and_holds_out_the_next_one(setup) -> None:
    s = setup
    drop(s["inbox"], "b1.csv", frame(150, 1), 1)
    drop(s["inbox"], "b2.csv", frame(150, 2, shift=2, start=1000), 2)  # drifts: retrain
    drop(s["inbox"], "b3.csv", frame(150, 3, start=2000), 3)
    done = run(s)
    assert [b["action"] for b in done] == ["none", "retrain", "none"]
    assert set(s["delivered"]) == {"b2", "b3"}  # folded, and the next batch held out
    assert "rid" not in s["delivered"]["b2"] and TARGET in s["delivered"]["b2"]
    (cmd,) = s["started"]
    assert cmd[:3] == ["dvc", "exp", "run"]
    assert "split.current=\"mlgate_batch == 'b3'\"" in cmd
    assert "split.current_share=null" in cmd
    assert done[1]["retrain"]["status"] == "done"
    assert ledger(s)["delivered"] == {"b2": "model", "b3": "current"}


def test_retrain_with_no_next_batch_holds_out_a_seeded_share(setup) -> None:
    s = setup
    s["params"]["monitor"]["watch"]["retrain"] = "queue"
    drop(s["inbox"], "b2.csv", frame(150, 2, shift=2), 1)
    run(s)
    (cmd,) = s["started"]
    share = s["params"]["monitor"]["watch"]["holdout_share"]
    assert {"split.current=null", f"split.current_share={share}", "--queue"} <= set(cmd)
    assert ledger(s)["batches"][0]["retrain"]["status"] == "queued"


def test_unlabelled_retrain_waits_for_late_labels_joined_by_id(setup) -> None:
    s = setup
    batch = frame(150, 2, shift=2)
    drop(s["inbox"], "b2.csv", batch.drop(columns=[TARGET]), 1)
    (record,) = run(s)
    assert record["retrain"]["status"] == "waiting for labels" and s["started"] == []
    labels = s["inbox"] / "labels"
    labels.mkdir()
    drop(labels, "l1.csv", batch[["rid", TARGET]].iloc[:100], 2)
    run(s)
    (book,) = ledger(s)["batches"]
    assert book["metric"]["accuracy"] == 1.0 and not book["labelled"]  # 100 of 150 rows
    assert s["started"] == []
    drop(labels, "l2.csv", batch[["rid", TARGET]].iloc[100:], 3)
    run(s)
    (book,) = ledger(s)["batches"]
    assert book["labelled"] and book["retrain"]["status"] == "done"
    assert s["metrics"][-1] == ("snap-b2", book["metric"])
    assert len(s["delivered"]["b2"]) == 150 and TARGET in s["delivered"]["b2"]


def test_labels_without_the_id_column_are_quarantined(setup) -> None:
    s = setup
    drop(s["inbox"], "b1.csv", frame(150, 1), 1)
    (s["inbox"] / "labels").mkdir()
    drop(s["inbox"] / "labels", "l1.csv", frame(10, 1)[[TARGET]], 2)
    run(s)
    assert "labels need the id column" in (
        s["inbox"] / "labels/quarantine/l1.csv.error.txt").read_text()


def test_investigate_stops_the_model_until_resume(setup) -> None:
    s = setup
    drop(s["inbox"], "b1.csv", frame(150, 1, shift=9), 1)  # a population change
    drop(s["inbox"], "b2.csv", frame(150, 2), 2)
    with pytest.raises(watch_mod.WatchStopped, match="b1: 50% of the columns drifted"):
        run(s)
    assert ledger(s)["files"]["b2.csv"]["status"] == "held"
    with pytest.raises(watch_mod.WatchStopped, match="--resume"):
        run(s)
    assert CALLS == ["b1"]
    assert [b["name"] for b in run(s, resume=True)] == ["b2"]


def test_a_bad_date_is_quarantined_at_admission_naming_the_column(setup) -> None:
    s = setup
    s["params"]["data"]["datetime"] = {"day": "%Y-%m-%d"}
    s["params"]["split"]["drop_columns"] = ["day"]  # a date the model does not take
    drop(s["inbox"], "b1.csv", frame(150, 1).assign(day="2024-05-01"), 1)
    drop(s["inbox"], "b2.csv", frame(150, 2).assign(day="yesterday"), 2)
    assert [b["name"] for b in run(s)] == ["b1"]
    assert "b2.csv: `data.datetime.day`: 150 value(s) do not match format '%Y-%m-%d'" in (
        s["inbox"] / "quarantine/b2.csv.error.txt").read_text()


def test_a_missing_inbox_is_an_error_naming_it(setup) -> None:
    with pytest.raises(DataError, match="nowhere: the inbox folder does not exist"):
        watch_mod.watch(setup["params"], setup["root"] / "nowhere", once=True,
                        root=setup["root"])


def test_a_served_log_file_is_a_batch_labelled_by_request_id_with_shadow_evidence(
        setup, monkeypatch) -> None:
    """An inference log file (`serve --log --shadow`): admitted without its log columns, its
    shadow answers kept as the challenger's evidence, labels joined by request id and row,
    and a retrain folding the rows in without any log column."""
    from mlgate.core import inference_log as il

    s = setup
    kept: list[tuple[str, str, dict]] = []
    monkeypatch.setattr(watch_mod, "record_batch",
                        lambda model, version, batch, record: kept.append((version, batch,
                                                                           record)))
    rows = frame(150, 4, shift=2, labelled=False).drop(columns=["rid"])
    s["params"]["data"]["id"] = None  # served rows carry no row id: the request id joins
    answered = (rows["x"] > 0).astype(int)
    shadow = answered.copy()
    shadow.iloc[:15] = 1 - shadow.iloc[:15]
    served = rows.assign(**{il.REQUEST_ID: [f"q{i // 3}" for i in range(150)],
                            il.ROW: [i % 3 for i in range(150)],
                            il.AT: pd.Timestamp("2026-12-01", tz="UTC"),
                            il.VERSION: "1", il.PREDICTION: answered,
                            il.SHADOW_VERSION: "2", il.SHADOW_PREDICTION: shadow})
    drop(s["inbox"], "served-1.parquet", served, 1)
    (record,) = run(s)
    assert record["retrain"]["status"] == "waiting for labels"
    (version, batch, evidence), = kept
    assert (version, batch) == ("2", "watched-served-1")
    assert evidence["agreement"] == pytest.approx(0.9) and "metrics" not in evidence
    assert evidence["champion_version"] == "1"
    truth = served[[il.REQUEST_ID, il.ROW]].assign(**{TARGET: answered})
    (s["inbox"] / "labels").mkdir()
    drop(s["inbox"] / "labels", "served-labels.csv", truth, 2)
    run(s)
    (book,) = ledger(s)["batches"]
    assert book["labelled"] and book["metric"]["accuracy"] == 1.0
    labelled = kept[-1][2]
    assert labelled["labelled_rows"] == 150
    assert labelled["metrics"]["champion"]["accuracy"] == 1.0
    assert labelled["metrics"]["challenger"]["accuracy"] == pytest.approx(0.9)
    folded = s["delivered"]["served-1"]
    assert len(folded) == 150 and TARGET in folded
    assert not set(il.COLUMNS) & set(folded.columns)
