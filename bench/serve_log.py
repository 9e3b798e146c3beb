"""Benchmark: what the inference log costs the served champion, in requests per second and
p50/p99 latency.

Two servers of the repository's champion (`models:/<gate.model_name>@<gate.alias>`, read
only), both started by mlgate on 127.0.0.1 with one uvicorn worker: `mlflow models serve`
(what `mlgate models serve` runs) and MLflow's scoring app with the inference log (`mlgate
models serve --log`, writing to a temporary folder, rotated every `--rotate-rows` rows). They
take turns, `--rounds` times, each round `--requests` POSTs of `--rows` test rows as
`dataframe_split`, from `--clients` concurrent clients; every latency is kept and the table
gives the rounds' total throughput and the latency quantiles over all of them. Needs `make
run` first (a champion and data/processed/test.parquet). Run:
`python bench/serve_log.py [--requests 400] [--clients 4] [--rows 10] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from bench._common import ROOT, emit, log, markdown_table, ratio
from mlgate.adapters.registry import require_alias
from mlgate.adapters.serving import start_logged_server, start_server
from mlgate.adapters.tracking import connect, tracking_uri
from mlgate.base.io import read_table
from mlgate.base.params import load_params
from mlgate.core.inference_log import InferenceLogConfig


def post(url: str, body: bytes) -> float:
    """Seconds one POST takes until its whole answer is read (200 expected)."""
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as resp:
        resp.read()
        assert resp.status == 200
    return time.perf_counter() - started


def load(url: str, bodies: list[bytes], clients: int) -> tuple[float, list[float]]:
    """(wall seconds, per-request latencies) of all `bodies` sent by `clients` threads."""
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(lambda b: post(url, b), bodies))
    return time.perf_counter() - started, latencies


def main() -> None:
    """Serve the champion with and without the log; print rps, p50, p99 and their ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rotate-rows", type=int, default=1000)
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    uri = connect(tracking_uri(params["tracking"], ROOT), ROOT)
    name, alias = params["gate"]["model_name"], params["gate"]["alias"]
    version = str(require_alias(name, alias).version)
    test = read_table(ROOT / "data/processed/test.parquet").drop(
        columns=[params["data"]["target"]])
    rng = np.random.default_rng(0)
    bodies = [json.dumps({"dataframe_split": json.loads(
        test.iloc[rng.integers(0, len(test) - args.rows):][:args.rows].to_json(
            orient="split"))}).encode() for _ in range(args.requests)]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = InferenceLogConfig(tmp, args.rotate_rows, 600.0)
        servers = {"mlflow models serve": start_server(f"models:/{name}/{version}", uri)}
        try:
            servers["serve --log"] = start_logged_server(f"models:/{name}/{version}", version,
                                                         uri, Path(tmp), cfg)
            for server in servers.values():  # warm up: first requests load lazily
                load(f"{server.url}/invocations", bodies[:20], args.clients)
            wall = {k: 0.0 for k in servers}
            lat: dict[str, list[float]] = {k: [] for k in servers}
            for r in range(args.rounds):
                for key in (list(servers) if r % 2 == 0 else list(servers)[::-1]):
                    seconds, latencies = load(f"{servers[key].url}/invocations", bodies,
                                              args.clients)
                    wall[key] += seconds
                    lat[key] += latencies
                    log(f"round {r + 1}, {key}: {args.requests / seconds:.0f} requests/s")
        finally:
            for server in servers.values():
                server.stop()
        logged = sorted(Path(tmp).glob("*.parquet"))
        kept = sum(len(pd.read_parquet(p)) for p in logged)
    sent = (args.requests * args.rounds + 20) * args.rows  # + the warm-up's 20 requests
    rows = []
    for key in servers:
        rps = args.requests * args.rounds / wall[key]
        rows.append([key, round(rps, 1), round(1000 * float(np.quantile(lat[key], 0.5)), 2),
                     round(1000 * float(np.quantile(lat[key], 0.99)), 2)])
    plain, logging_ = rows
    emit("serve_log", {
        "title": f"Serving {name} v{version}: {args.requests} requests x {args.rounds} rounds, "
                 f"{args.rows} rows each, {args.clients} concurrent clients, 1 worker",
        "table": markdown_table(["server", "requests/s", "p50 ms", "p99 ms"], rows),
        "notes": [f"with the log / without: throughput x{ratio(logging_[1], plain[1]):.2f}, "
                  f"p50 x{ratio(logging_[2], plain[2]):.2f}, p99 "
                  f"x{ratio(logging_[3], plain[3]):.2f}",
                  f"the log kept {kept:,} rows in {len(logged)} files (sent {sent:,})"]})


if __name__ == "__main__":
    main()
