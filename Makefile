# The README's two commands. Each one sets up what it needs (idempotent, quick when done):
# a .venv with the pinned packages and the Delta jars fetched by Maven into a local cache.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
CONF ?= conf/local.yaml
RUN_ID ?=

.PHONY: setup run test lint bench clean

setup: $(INSTALLED)
	$(VENV)/bin/samplegen fetch-jars

$(INSTALLED): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<25" "setuptools<70" wheel
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(INSTALLED)

run: setup
	$(VENV)/bin/samplegen run --conf $(CONF) $(if $(RUN_ID),--run-id $(RUN_ID))

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: setup lint
	$(PY) -m pytest

clean:
	rm -rf lakehouse reports spark-warehouse .pytest_cache
