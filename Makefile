# One-command set-up: `make demo` and `make test` create the virtualenv, install the pinned
# dependencies, provision the verified JVM jars and Data Docs web assets and then run. Nothing else is needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help install jars web-assets init demo airflow test test-unit test-s3 lint lock clean airflow-db

help:
	@echo "make demo      set up everything and run the three pipelines' DAGs on the embedded default profile"
	@echo "make airflow   start Airflow 3 (UI on http://127.0.0.1:8280, scheduler, DAG processor, triggerer); Ctrl-C stops it"
	@echo "make test      set up everything and run the test suite"
	@echo "make test-s3   run the S3 integration tests against LAKEHOUSE_TEST_S3_ENDPOINT (MinIO)"
	@echo "make lint      ruff"
	@echo "make lock      re-resolve requirements.in into constraints.txt"

$(STAMP): requirements.in constraints.txt pyproject.toml infra/scripts/system-deps.sh
	bash infra/scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.in -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# The verified jars, then the JVM class-data archive Spark drivers start from (lakehouse/jvm.py).
jars: install
	$(BIN)/lakehouse jars
	$(BIN)/lakehouse jvm-archive

# jQuery, Bootstrap, ... of the Data Docs pages, from the npm registry (verified), so the site works offline.
web-assets: install
	$(BIN)/lakehouse web-assets

init: jars web-assets
	$(BIN)/lakehouse init

demo: jars web-assets
	bash infra/scripts/demo.sh

airflow: init
	bash infra/scripts/airflow.sh

test: jars web-assets
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-s3: jars web-assets
	@test -n "$$LAKEHOUSE_TEST_S3_ENDPOINT" || echo "LAKEHOUSE_TEST_S3_ENDPOINT not set: using moto on 127.0.0.1"
	$(BIN)/python -m pytest -m s3 $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -r requirements.in
	.lock-venv/bin/python -m pip freeze --exclude-editable > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .lakehouse .pytest_cache .ruff_cache
