"""train.parallel=dask: candidates CV'd as Dask tasks on a real LocalCluster match parallel=none."""

import logging
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import psutil
import pytest

from mlgate.adapters.serving import ModelServer, free_port
from mlgate.base.errors import ConfigError, MlgateError
from mlgate.base.processes import group_alive
from mlgate.engines.parallel import _result, check_workers, dask_client, import_distributed
from mlgate.engines.selection import train_model
from mlgate.engines.training import TrainingError
from tests.defaults import dask_with, train_config

DATA = {"target": "binexp", "categorical": ["plan", "site"]}
SECTION = {"estimators": ["lr", "dt"], "fold": 3, "n_jobs": 1, "seed": 3}


@pytest.fixture(scope="module")
def sample(randhie, params):
    df = randhie.drop(columns=[*params["data"]["drop_columns"], "year"])
    return df.sample(700, random_state=2).reset_index(drop=True)


class Lines(logging.Handler):
    """Collects formatted log lines (caplog is function-scoped; the fixture is per module)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def descendants() -> dict[int, str]:
    """This process's descendants but Python's multiprocessing resource tracker (lives with us)."""
    procs = {p.pid: " ".join(p.cmdline()) for p in psutil.Process().children(recursive=True)
             if p.is_running() and p.status() != psutil.STATUS_ZOMBIE}
    return {pid: cmd for pid, cmd in procs.items() if "resource_tracker" not in cmd}


@pytest.fixture(scope="module")
def both(sample):
    """The same data and seed trained with parallel=none and parallel=dask (2 worker processes)."""
    pytest.importorskip("distributed")  # the `dask` extra; `make test` installs it
    sequential = train_model(sample, train_config(DATA, SECTION))
    seen, before, lines = [], descendants(), Lines()
    cfg = train_config(DATA, {**SECTION, "parallel": "dask", "dask": {
        "address": None, "n_workers": 2, "threads_per_worker": 1}})
    logger = logging.getLogger("mlgate.engines.parallel")
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        distributed = train_model(sample, cfg, seen.append)
    finally:
        logger.removeHandler(lines)
    left = {pid: cmd for pid, cmd in descendants().items() if pid not in before}
    return sequential, distributed, seen, left, lines.lines


def test_dask_picks_the_same_candidate_with_the_same_cv_records(both):
    sequential, distributed, seen, *_ = both
    assert distributed.best_id == sequential.best_id
    assert [c.id for c in distributed.candidates] == ["lr", "dt"]
    assert sorted(c.id for c in seen) == ["dt", "lr"]
    for seq, par in zip(sequential.candidates, distributed.candidates, strict=True):
        assert par.cv.keys() == seq.cv.keys() and "AUC" in par.cv
        np.testing.assert_allclose([par.cv[k] for k in seq.cv], list(seq.cv.values()), atol=1e-9)
        np.testing.assert_allclose([par.cv_std[k] for k in seq.cv_std],
                                   list(seq.cv_std.values()), atol=1e-9)
        assert par.params == seq.params and par.seconds > 0
    assert distributed.cv_metrics == sequential.cv_metrics


def test_dask_finalized_model_predicts_like_the_sequential_one(both, sample):
    sequential, distributed, *_ = both
    X = sample.drop(columns=["binexp"]).iloc[:200]
    np.testing.assert_allclose(distributed.model.predict_proba(X),
                               sequential.model.predict_proba(X))


def test_candidates_ran_on_loopback_workers_that_are_gone_afterwards(both):
    *_, left, lines = both
    assert any(line.startswith("started a Dask LocalCluster at tcp://127.0.0.1:")
               for line in lines)
    ran = [line for line in lines if "on Dask worker tcp://127.0.0.1:" in line]
    assert len(ran) == 2 and "closed the Dask LocalCluster" in lines
    assert left == {}


@pytest.mark.parametrize(("section", "match"), [
    ({"parallel": "ray"}, r"`train.parallel` must be one of \['none', 'dask'\], not 'ray'"),
    ({"parallel": "dask", "dask": {"adress": "tcp://x:8786"}}, "train.dask.adress"),
    ({"dask": {"n_workers": 0}}, "train.dask.n_workers"),
    ({"dask": {"threads_per_worker": 1.5}}, "train.dask.threads_per_worker"),
    ({"dask": {"address": 8786}}, "train.dask.address"),
])
def test_bad_parallel_config_is_named(section, match):
    with pytest.raises(ConfigError, match=match):
        train_config(DATA, {**SECTION, **section})


def test_defaults_and_null_parallel_mean_sequential():
    cfg = train_config(DATA, {**SECTION, "parallel": None})
    assert cfg.parallel == "none" and cfg.dask == dask_with()


def test_missing_dask_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ConfigError, match=r"pip install -e \.\[dask\]"):
        import_distributed()


def test_unreachable_scheduler_is_named(caplog):
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = dask_with(address=f"tcp://127.0.0.1:{port}", connect_timeout=1)
    caplog.set_level(logging.CRITICAL, logger="distributed")
    with pytest.raises(MlgateError, match=rf"train.dask.address.*127.0.0.1:{port}"), \
            dask_client(cfg):
        pass


class OtherVersions:
    """A client whose only worker reports another version of every package."""

    def run(self, func, package, on_error):
        return {"tcp://10.0.0.5:4000": "0.0.1"}


class LostWorker:
    """A future whose worker died."""

    def result(self):
        raise RuntimeError("worker tcp://10.0.0.5:4000 died")


def test_workers_with_another_environment_are_refused():
    with pytest.raises(MlgateError, match=r"tcp://10.0.0.5:4000.*mlgate \['0.0.1'\].*\[dask\]"):
        check_workers(OtherVersions())


def test_a_failure_on_a_worker_names_the_candidate():
    with pytest.raises(TrainingError, match=r"candidate 'lr' failed on Dask: RuntimeError"):
        _result(LostWorker(), "lr")


def start(cmd: list[str], log: Path) -> ModelServer:
    """A `dask` CLI process in its own process group (stopped by its pid), output to `log`."""
    with log.open("w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    return ModelServer(process, "", log, cmd[1])


@pytest.mark.slow
def test_a_running_cluster_started_with_the_dask_cli_gives_the_same_choice(sample, tmp_path):
    pytest.importorskip("distributed")
    dask = str(Path(sys.executable).parent / "dask")
    address = f"tcp://127.0.0.1:{free_port()}"
    with start([dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                "--no-dashboard"], tmp_path / "scheduler.log") as scheduler, \
            start([dask, "worker", address, "--host", "127.0.0.1", "--nworkers", "2",
                   "--nthreads", "1", "--no-dashboard"], tmp_path / "worker.log") as worker:
        remote = train_model(sample, train_config(DATA, {
            **SECTION, "parallel": "dask", "dask": {"address": address, "connect_timeout": 120}}))
        assert worker.process.poll() is None and scheduler.process.poll() is None  # not ours
    sequential = train_model(sample, train_config(DATA, SECTION))
    assert remote.best_id == sequential.best_id
    assert [c.cv for c in remote.candidates] == [c.cv for c in sequential.candidates]
    assert [c.cv_std for c in remote.candidates] == [c.cv_std for c in sequential.candidates]
    assert not group_alive(worker.pid) and not group_alive(scheduler.pid)
