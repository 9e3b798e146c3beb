# mlgate — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Stage commands in dvc.yaml call `python`: make it the venv's.
export PATH := $(BIN):$(PATH)
export VIRTUAL_ENV := $(CURDIR)/$(VENV)

.DEFAULT_GOAL := help
.PHONY: help setup setup-extras params run repro test test-slow lint ui monitor clean bench-train sweep screenshot screenshot-monitor screenshot-card bench-noop bench remote server server-stop preload-stop deps watch stream-demo

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (mlgate needs Python 3.11; set PYTHON=...)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed ## Create .venv and install the pinned dependencies

# The tests also exercise the optional engines (Spark scoring, Dask training).
$(VENV)/.installed-extras: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,spark,dask,server]'
	touch $@

setup-extras: $(VENV)/.installed-extras ## Also install the optional extras: .[spark,dask,server]

params: setup ## Compose conf/ into params.yaml (commit both together)
	$(BIN)/mlgate params

remote: setup ## DVC remote in .dvc/config: ../mlgate-dvc-remote, or REMOTE_URL=s3://bucket/path
	$(BIN)/mlgate remote $(if $(REMOTE_URL),--url '$(REMOTE_URL)')

run: setup ## Set up, run the whole pipeline (dvc repro) and print a summary
	$(BIN)/mlgate init-store
	$(BIN)/dvc repro
	@$(BIN)/mlgate summary

repro: run

# Two pytest workers: the e2e tests are single-threaded `dvc repro` chains (train.n_jobs=1), so
# CI's 2 cores run two test files at once; a file's tests stay on one worker (module fixtures).
PYTEST_WORKERS ?= 2

test: setup-extras ## Set up (with extras) and run the test suite (unit, config, end-to-end)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile

test-slow: setup-extras ## Also run the heavy, opt-in scenarios (pytest -m slow)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m "slow or not slow"

lint: setup ## ruff on src, stages, tests, bench
	$(BIN)/ruff check src stages tests bench

ui: setup ## Serve the MLflow UI for the embedded store on http://127.0.0.1:5000
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port 5000

monitor: setup ## Serve the monitoring dashboard (Evidently UI) on http://127.0.0.1:8000
	$(BIN)/mlgate monitor ui

watch: setup ## Check, score, drift-check and act on every new file in inbox/ once (mlgate watch --once)
	$(BIN)/mlgate watch --once

stream-demo: setup ## RAND HIE as a stream: years 2-5 into inbox/ (train on year 1: mlgate params experiment=stream)
	$(BIN)/python scripts/stream_demo.py

$(VENV)/.installed-server: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[server]'
	touch $@

server: $(VENV)/.installed-server ## Start the shared tracking server: PostgreSQL + MLflow with proxied artifacts on 127.0.0.1
	$(BIN)/mlgate server start

server-stop: ## Stop the shared tracking server (MLflow and PostgreSQL, by pid)
	$(BIN)/mlgate server stop

deps: $(VENV)/.installed ## Rewrite dvc.yaml's src/ deps from the stage scripts' imports (tests/config/test_deps.py checks them)
	$(BIN)/python scripts/sync_deps.py

preload-stop: ## Stop this venv's preload servers by pid (they also exit after 15 idle minutes)
	$(BIN)/python -m mlgate.supervise.preload stop

clean: ## Remove pipeline outputs and the local MLflow store (keeps .venv and the DVC cache)
	rm -rf data/raw data/processed models reports/drift.html mlflow.db mlartifacts

bench-train: setup ## Benchmark: train stage vs PyCaret defaults on the same data (prints the ratio)
	$(BIN)/python bench/train_vs_pycaret.py --repeats 2

sweep: setup ## Queue a 4-experiment sweep (2 estimators x 2 folds, fast preset), run it on 2 workers
	$(BIN)/mlgate init-store
	$(BIN)/dvc exp run --queue -S experiment=fast -S 'train.estimators=choice([lr],[lightgbm])' -S 'train.fold=3,5'
	$(BIN)/dvc queue start -j 2
	@while $(BIN)/dvc queue status | grep -qE 'Queued|Running'; do sleep 10; done
	$(BIN)/dvc queue status
	$(BIN)/dvc exp show --only-changed --drop 'columns\..*|quality\..*|Created'

screenshot: setup ## PNG of the MLflow compare view of the newest 4 runs (needs Debian's chromium)
	$(BIN)/python scripts/compare_screenshot.py --runs 4 --out docs/mlflow-compare.png

screenshot-monitor: setup ## PNG of the monitoring dashboard (Evidently UI; needs Debian's chromium)
	$(BIN)/python scripts/compare_screenshot.py --monitor --size 1400x2200 --out docs/img/monitoring-dashboard.png

screenshot-card: setup ## PNGs of the champion's version page (model card) and its SHAP figure in the MLflow UI
	$(BIN)/python scripts/compare_screenshot.py --card --size 1400x2000 --out docs/img/mlflow-model-card.png

bench-noop: setup ## Benchmark: no-op dvc repro vs dvc status, in a fresh copy (prints the ratio)
	$(BIN)/python bench/noop_repro.py --repeats 5

bench: setup ## Run all five benchmarks and write bench/RESULTS.md (about an hour on 2 cores)
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/noop_repro.py
	$(BIN)/python bench/incremental.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/sweep.py
	$(BIN)/python bench/report.py
