# make local: install what is missing, then run the whole lab locally.
# make test:  the suite's own tests.
PYTHON ?= python3
VENV   := .venv
PYTEST := $(VENV)/bin/pytest
STAMP  := $(VENV)/.installed

.PHONY: local test install servers sweep clean

local: install
	$(PYTEST) -m local $(PYTEST_ARGS)

test: install
	$(PYTEST) tests --junitxml=reports/selftest-junit.xml $(PYTEST_ARGS)

install: $(STAMP) servers

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "dblab needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt -e .
	@touch $(STAMP)

servers:
	@scripts/ensure-servers

sweep: install
	$(VENV)/bin/dblab sweep $(SWEEP_ARGS)

clean:
	rm -rf $(VENV) reports/*.xml reports/allure-results .pytest_cache
