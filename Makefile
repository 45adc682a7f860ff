# The README's two commands. Each one sets up what it needs (idempotent, quick when done):
# a .venv with the pinned packages and the Delta jars fetched by Maven into a local cache.
# setup.py declares ranges (what a Databricks cluster may already have); the exact versions of
# the local environment live in constraints/dev-py311.txt.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
CONSTRAINTS := constraints/dev-py311.txt
CONF ?= conf/local.yaml
RUN_ID ?=

.PHONY: setup run test test-fast test-compat test-connect test-drills lint browser clean audit

setup: $(INSTALLED)
	$(VENV)/bin/samplegen fetch-jars

$(INSTALLED): setup.py $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<25" "setuptools<70" wheel
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev,spark,petastorm,tune]"
	touch $(INSTALLED)

run: setup
	$(VENV)/bin/samplegen run --conf $(CONF) $(if $(RUN_ID),--run-id $(RUN_ID))

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Headless Chromium for tests/e2e/test_report_browser.py (it opens the HTML report). Installed
# from Debian's apt when missing, which needs root; elsewhere install `chromium` yourself.
browser:
	command -v chromium >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# Two pytest-xdist workers: the tests of the shared pipeline run (one xdist group, tests/conftest.py)
# in one, the rest (the browser, unit tests) beside it, module by module in
# collection order. The drills (tests marked drill) are left to test-drills.
test: setup lint browser
	$(PY) -m pytest -n 2 --dist loadgroup --no-loadscope-reorder

# The drills (tests marked drill): the whole pipeline run another way (spark-submit of the
# wheel, the Databricks notebooks, catalog tables), killed and resumed, with killed executors
# and drivers, racing writers, forced again. Each is a second pipeline, so they are their own
# tier beside `make test`; CI runs both.
test-drills: setup
	$(PY) -m pytest -m drill -n 2 --dist loadgroup --no-loadscope-reorder

# The fast tier: unit tests and the integration tests that need no whole-pipeline run.
test-fast: setup lint
	$(PY) -m pytest -m "not slow"

# The aggregate, train, generate and evaluate stages through a local Spark Connect server that
# the test fixture starts (tests/connect): the Connect-safe paths of the support matrix.
test-connect: setup
	$(PY) -m pytest -p no:cacheprovider -m connect tests/connect

# Known advisories in the locked environment (SECURITY.md judges them). Needs network to PyPI's
# JSON API; pip-audit lives in its own venv so the project's pins stay as they are. --strict
# fails when a package cannot be checked, so "no known vulnerabilities" is never said unchecked.
AUDIT_VENV := .venv-audit
audit: $(INSTALLED)
	test -x $(AUDIT_VENV)/bin/pip-audit || \
		($(PYTHON) -m venv $(AUDIT_VENV) && $(AUDIT_VENV)/bin/pip install --quiet "pip-audit==2.10.1")
	$(PY) -m pip freeze --exclude-editable > $(AUDIT_VENV)/locked.txt
	$(AUDIT_VENV)/bin/pip-audit --requirement $(AUDIT_VENV)/locked.txt --no-deps --disable-pip \
		--strict --progress-spinner off --desc on

# The compatibility environment of the support matrix (README): Python 3.12, Spark 3.5.x,
# delta-spark 3.x, numpy 2, pandas 2, current pyarrow, no petastorm. It runs the integration
# tests and the end-to-end pipeline on local[2,4] with its own Delta jars (Scala 2.12), and the
# install check of the wheel against the Databricks runtimes' pins (constraints/dbr-*.txt).
# It keeps the drills of those paths (the notebooks, catalog tables: `-m` must name drill for
# tests/conftest.py to keep them) but the forced rerun, a second whole pipeline for idempotence,
# which the primary environment's test-drills runs.
# pyenv's 3.12 when there is one (its shim answers only where 3.12 is selected), else PATH's.
COMPAT_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) python3.12)
COMPAT_VENV := .venv-compat
COMPAT_PY := $(COMPAT_VENV)/bin/python
COMPAT_CONSTRAINTS := constraints/compat-py312-spark35.txt
COMPAT_INSTALLED := $(COMPAT_VENV)/.installed

$(COMPAT_INSTALLED): setup.py $(COMPAT_CONSTRAINTS)
	$(COMPAT_PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_PY) -m pip install --quiet --upgrade "pip<25" "setuptools<70" wheel
	$(COMPAT_PY) -m pip install --quiet -c $(COMPAT_CONSTRAINTS) -e ".[spark,tracking,text,tune]" pytest build
	touch $(COMPAT_INSTALLED)

test-compat: $(COMPAT_INSTALLED)
	$(COMPAT_VENV)/bin/samplegen fetch-jars
	SAMPLEGEN_COMPAT=1 $(COMPAT_PY) -m pytest -p no:cacheprovider tests/unit/test_compat.py tests/integration \
		tests/e2e/test_pipeline.py tests/compat -m "drill or not drill" \
		--deselect tests/e2e/test_pipeline.py::test_forced_rerun_with_same_run_id_leaves_same_row_counts

clean:
	rm -rf lakehouse reports spark-warehouse .pytest_cache
