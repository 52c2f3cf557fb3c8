# PayLab verbs. `make repro` rebuilds everything; `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.setup-stamp
# the interpreter that bootstraps uv, resolved before .venv/bin goes first on PATH
SYS_PYTHON := $(shell command -v python3.11 || command -v python3)
UV := $(SYS_PYTHON) -m uv
export PATH := $(BIN):$(PATH)
export PYTHONHASHSEED := 0
# scale and seed come from params.yaml (data.scale, seed) unless given: `make data SCALE=tiny`
SYNTH_ARGS = $(if $(SCALE),--scale $(SCALE)) $(if $(SEED),--seed $(SEED))

.PHONY: help setup data repro exp test lint lab app mlflow-ui bench lock clean
help:  ## list the verbs
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

setup: $(STAMP)  ## .venv from requirements.lock + the `paylab` Jupyter kernel
$(STAMP): requirements.lock pyproject.toml
	@$(UV) --version >/dev/null 2>&1 || $(SYS_PYTHON) -m pip install --quiet "uv>=0.5"
	$(UV) venv --allow-existing --python 3.11 $(VENV)
	$(UV) pip sync --python $(VENV)/bin/python --require-hashes requirements.lock
	$(UV) pip install --python $(VENV)/bin/python --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name paylab --display-name "PayLab (Python 3.11)"
	@command -v java >/dev/null || echo "WARNING: no java on PATH: PySpark needs Java 17 (apt-get install openjdk-17-jre-headless)"
	touch $(STAMP)

data: setup  ## synthetic raw data at params.yaml data.scale (kept if data/raw already has files)
	@if [ -f data/raw/transactions_data.csv ]; then echo "data/raw exists: kept"; \
	else $(BIN)/paylab synth $(SYNTH_ARGS) --out data/raw; fi

repro: setup data  ## rebuild every stage (dvc repro), then point at reports/index.html
	$(BIN)/dvc repro
	@echo "Reports: file://$(CURDIR)/reports/index.html"

exp: setup data  ## a DVC experiment: make exp ARGS="-S fraud.tune.n_trials=10" (then dvc exp show / metrics diff)
	$(BIN)/dvc exp run $(ARGS)

test: setup  ## lint + the whole test suite (tiny data)
	$(BIN)/ruff check src tests pipelines benchmarks app
	$(BIN)/pytest

lint: setup  ## ruff
	$(BIN)/ruff check src tests pipelines benchmarks app

lab: setup  ## JupyterLab on the paylab kernel
	$(BIN)/jupyter lab

app: setup  ## the Streamlit demo
	$(BIN)/streamlit run app/Home.py

mlflow-ui: setup  ## MLflow UI on the project store
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db

bench: setup  ## every benchmark at the default scale
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lock:  ## recompile requirements.lock from requirements.in
	$(UV) pip compile requirements.in --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	  --generate-hashes -o requirements.lock

clean:  ## remove generated data, reports and the MLflow store (keeps .venv)
	rm -rf data/interim data/processed reports/notebooks reports/figures mlflow.db mlruns optuna-studies
