# Two commands do all set-up on a fresh machine with Python 3.11:
#   make demo   -> creates .venv, installs genaudit from requirements.lock, runs `audit demo`
#   make test   -> creates .venv, installs genaudit[dev] from requirements.lock, runs checks + the test suite
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: install demo test test-all lint app lock

# Installs exactly the versions the tests passed with (requirements.lock as pip constraints).
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/audit demo

# Static checks first (ruff, mypy, import graph), then the default test run.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) tools/check_imports.py

test: install lint
	$(PY) -m pytest -q

test-all: install
	$(PY) -m pytest -q -m "slow or not slow"

app: install
	$(VENV)/bin/audit app

# Re-resolve pyproject.toml's ranges in a scratch venv and freeze the result; run `make test` after.
lock:
	rm -rf .lockenv
	$(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install -q --upgrade pip
	.lockenv/bin/python -m pip install -q -e ".[dev]"
	{ echo "# Locked versions the test suite passed with (Python 3.11, Linux x86_64). Installed by \`make install\` as pip"; \
	  echo "# constraints, so pyproject.toml keeps its ranges for people who install genaudit into their own environment."; \
	  echo "# Refresh: \`make lock\` (resolves pyproject.toml's ranges afresh in a scratch venv and freezes it), then run the tests."; \
	  .lockenv/bin/python -m pip freeze --exclude-editable; } > requirements.lock
	rm -rf .lockenv
