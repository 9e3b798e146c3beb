"""End to end: `mlgate watch --once` over a real inbox with the real champion, Evidently and
MLflow: exactly once across runs, quarantine, held files combined, `kill -9` in the middle of a
batch resumed without a duplicate or a lost batch, late labels; and (slow) a `retrain` action
that folds the batch in and runs the experiment through the gate."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.e2e.conftest import BIN, SAMPLE_ROWS, Repo, load
from tests.e2e.test_scoring_drift import ensure_champion, mlgate

pytestmark = pytest.mark.e2e

TARGET = "binexp"
# Run the watcher in-process with a SIGKILL right after the batch's drift check and snapshot,
# before the ledger commit: the worst moment to die.
KILL_BEFORE_COMMIT = """
import os, signal, sys
import mlgate.pipeline.watch as w
def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
w.write_parquet = die
from mlgate.cli.main import main
sys.argv = ["mlgate", "watch", "inbox", "--once"]
main()
"""


def configure(repo: Repo, **watch) -> None:
    """params.yaml as `mlgate watch` reads it: a row id, a small min_rows, no settle wait."""
    path = repo.path / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["data"]["id"] = "rid"
    params["monitor"]["watch"].update(min_rows=150, settle_s=0, **watch)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def deliver(folder: Path, name: str, rows: pd.DataFrame, age: int) -> None:
    """A file arriving `age` seconds after the first (arrival order is modification time)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows.to_csv(folder / name, index=False)
    stamp = time.time() - 3600 + age
    os.utime(folder / name, (stamp, stamp))


def batches(randhie: pd.DataFrame) -> pd.DataFrame:
    """RAND HIE rows outside the tiny training table, with a row id, as a delivery has them."""
    unseen = randhie.drop(index=randhie.sample(SAMPLE_ROWS, random_state=0).index)
    rows = unseen.sample(1500, random_state=7).reset_index(drop=True)
    return rows.assign(rid=range(len(rows)))


def history(repo: Repo) -> list[dict]:
    return json.loads(mlgate(repo, "monitor", "history", "--json").stdout)


def quality_batches(repo: Repo) -> set[str]:
    """Batches with a labelled-metric snapshot (accuracy as the mean of mlgate_correct)."""
    from evidently.ui.workspace import Workspace

    ws = Workspace(str(repo.path / "monitoring"))
    (project,) = [p for p in ws.search_project("mlgate-randhie") if p.name == "mlgate-randhie"]
    out = set()
    for sid in ws.list_runs(project.id):
        run = ws.get_run(project.id, sid)
        if "labels" in run.tags:
            (batch,) = [t.removeprefix("batch:") for t in run.tags if t.startswith("batch:")]
            assert 0.5 < run.metric_results[next(iter(run.metric_results))].value <= 1.0
            out.add(batch)
    return out


def ledger(repo: Repo) -> dict:
    return json.loads((repo.path / "inbox/.mlgate/ledger.json").read_text())


def test_watch_once_exactly_once_quarantine_kill_9_and_late_labels(ran_repo, randhie) -> None:
    repo = ran_repo
    version = ensure_champion(repo)
    configure(repo, retrain="off")
    rows, inbox = batches(randhie), repo.path / "inbox"
    deliver(inbox, "a.csv", rows.iloc[:200], 1)
    deliver(inbox, "s1.csv", rows.iloc[200:280], 2)
    deliver(inbox, "bad.csv", rows.iloc[280:300].assign(coins="x"), 3)
    deliver(inbox, "s2.csv", rows.iloc[300:380], 4)
    deliver(inbox, "s3.csv", rows.iloc[380:420], 5)  # held: 40 rows < min_rows 150
    (inbox / "late.csv.part").write_text("still being written")

    first = mlgate(repo, "watch", "inbox", "--once")
    lines = first.stdout.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["a", "s1+1"], first.stdout
    assert f"model version {version}" in lines[0]
    assert (inbox / "late.csv.part").exists() and (inbox / "s3.csv").exists()
    error = (inbox / "quarantine/bad.csv.error.txt").read_text()
    assert "bad.csv" in error and "`coins`" in error and not (inbox / "bad.csv").exists()
    assert "Traceback" not in first.stderr

    again = mlgate(repo, "watch", "inbox", "--once")
    assert again.stdout.strip() == "no new batch ready"

    deliver(inbox, "c.csv", rows.iloc[420:620], 6)
    killed = repo.run(str(BIN / "python"), "-c", KILL_BEFORE_COMMIT, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert ledger(repo)["files"]["c.csv"]["status"] == "held"  # not committed
    unlabelled = rows.iloc[620:820]
    deliver(inbox, "d.csv", unlabelled.drop(columns=[TARGET]), 7)
    deliver(inbox / "labels", "d-labels.csv", unlabelled[["rid", TARGET]], 8)
    resumed = mlgate(repo, "watch", "inbox", "--once")
    assert [ln.split(":")[0] for ln in resumed.stdout.strip().splitlines()] == ["s3+1", "d"]

    book = ledger(repo)
    assert [b["name"] for b in book["batches"]] == ["a", "s1+1", "s3+1", "d"]
    assert book["batches"][2]["files"] == ["s3.csv", "c.csv"]
    assert {f: v["status"] for f, v in book["files"].items()} == {
        "a.csv": "done", "s1.csv": "done", "bad.csv": "quarantined", "s2.csv": "done",
        "s3.csv": "done", "c.csv": "done", "d.csv": "done", "labels/d-labels.csv": "done"}
    shown = [r for r in history(repo) if r["batch"] in ("a", "s1+1", "s3+1", "d")]
    assert sorted(r["batch"] for r in shown) == ["a", "d", "s1+1", "s3+1"], (
        "one snapshot per batch: the batch redone after kill -9 replaced its own")
    by_name = {r["batch"]: r for r in shown}
    assert by_name["d"]["metric"].startswith("accuracy ") and "roc_auc" in by_name["d"]["metric"]
    assert by_name["a"]["metric"]  # delivered with labels
    assert all(r["model_version"] == version for r in shown)
    assert quality_batches(repo) == {"a", "s1+1", "s3+1", "d"}  # the quality panel's points
    assert load(repo, "data/processed/train.parquet").shape[0] > 0  # the pipeline untouched
    assert not any((repo.path / "data/delivered").glob("*.parquet"))  # retrain: off


@pytest.mark.slow
def test_retrain_action_folds_the_batch_and_runs_the_gate(ran_repo, randhie) -> None:
    repo = ran_repo
    ensure_champion(repo)
    repo.commit("pipeline ran")
    configure(repo, retrain="run")
    params = yaml.safe_load((repo.path / "params.yaml").read_text())
    params["drift"]["actions"].update(retrain=0.01, investigate=1.0)  # any drift: retrain
    (repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rows = batches(randhie)
    shifted = rows.iloc[:300].assign(income=lambda d: d["income"] * 3)
    deliver(repo.path / "inbox", "b1.csv", shifted, 1)
    deliver(repo.path / "inbox", "b2.csv", rows.iloc[300:600], 2)
    out = mlgate(repo, "watch", "inbox", "--once")
    first = out.stdout.strip().splitlines()[0]
    assert first.startswith("b1:") and "-> retrain; retrain done (gate:" in first, out.stdout
    record = ledger(repo)["batches"][0]
    assert record["retrain"]["current"] == "b2"
    exps = repo.run("git", "for-each-ref", "refs/exps", "--format=%(objectname)").stdout.split()
    committed = {f for ref in exps for f in repo.run(
        "git", "show", "--name-only", "--format=", ref).stdout.split()}
    assert {"data/delivered/b1.parquet.dvc", "data/delivered/b2.parquet.dvc"} <= committed, (
        "the experiment saw the delivered batches through git (staged .dvc files)")
    assert record["retrain"]["gate"] in ("champion", "challenger", "rejected")
    # the last retrain's experiment is applied to the workspace: its gate and its data
    last = ledger(repo)["batches"][-1]["retrain"]
    assert last["gate"] == json.loads((repo.path / "reports/gate.json").read_text())["decision"]
    raw = load(repo, "data/raw/dataset.parquet")
    assert set(raw["mlgate_batch"]) == {"source", "b1", "b2"}  # b2: held out, or folded
    assert "mlgate_batch" not in load(repo, "data/processed/current.parquet")


def test_served_traffic_is_checked_like_a_delivery(ran_repo) -> None:
    """`models serve --log` writes the watcher's inbox: its files (100 rows, below min_rows
    150) are combined into a batch, checked against the champion's contract and drift-checked;
    labels joined later by request id give the batch its metric."""
    from concurrent.futures import ThreadPoolExecutor

    from mlgate.adapters.serving import free_port
    from mlgate.core import inference_log as il
    from tests.e2e.test_serving import ask, serve_cli

    repo = ran_repo
    version = ensure_champion(repo)
    configure(repo, retrain="off")
    path = repo.path / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["monitor"]["inference_log"]["rotate_rows"] = 100
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    test = load(repo, "data/processed/test.parquet").head(250)
    X = test.drop(columns=[TARGET])
    port = free_port()
    proc, line = serve_cli(repo.path, "--log", "--port", str(port))
    assert f"logging to {repo.path / 'inbox'}" in line
    url = f"http://127.0.0.1:{port}/invocations"
    try:
        with ThreadPoolExecutor(4) as pool:
            answered = list(pool.map(lambda i: ask(url, X.iloc[i:i + 5], f"r{i}"),
                                     range(0, 250, 5)))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert all(status == 200 for status, _, _ in answered)
    served = sorted(p.name for p in (repo.path / "inbox").glob(f"{il.PREFIX}*.parquet"))
    assert len(served) == 3
    out = mlgate(repo, "watch", "inbox", "--once")
    (batch,) = ledger(repo)["batches"]
    assert batch["files"] == served[:2] and batch["rows"] == 200, out.stdout
    assert batch["model_version"] == version and batch["snapshot"] and batch["verdict"]
    assert ledger(repo)["files"][served[2]]["status"] == "held"  # 50 rows wait for more
    assert batch["name"] in {r["batch"] for r in history(repo)}
    labels = pd.DataFrame({il.REQUEST_ID: [f"r{i - i % 5}" for i in range(250)],
                           il.ROW: [i % 5 for i in range(250)], TARGET: test[TARGET]})
    deliver(repo.path / "inbox/labels", "served-labels.csv", labels, 10)
    mlgate(repo, "watch", "inbox", "--once")
    (batch,) = ledger(repo)["batches"]
    assert batch["labelled"] and batch["labels"] == ["served-labels.csv"]
    assert 0.5 < batch["metric"]["accuracy"] <= 1.0
    assert ledger(repo)["files"]["labels/served-labels.csv"]["matched"] == 200
