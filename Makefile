# The README's two commands. Each one sets up what it needs (idempotent, quick when done):
# a .venv with the pinned packages and the Delta jars fetched by Maven into a local cache.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
CONF ?= conf/local.yaml
RUN_ID ?=

.PHONY: setup run test test-fast lint browser clean audit

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

# Headless Chromium for tests/e2e/test_report_browser.py (it opens the HTML report). Installed
# from Debian's apt when missing, which needs root; elsewhere install `chromium` yourself.
browser:
	command -v chromium >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

test: setup lint browser
	$(PY) -m pytest

# The fast tier: unit tests and the integration tests that need no whole-pipeline run.
test-fast: setup lint
	$(PY) -m pytest -m "not slow"

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

clean:
	rm -rf lakehouse reports spark-warehouse .pytest_cache
