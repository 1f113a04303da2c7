# Two commands do all set-up on a fresh machine with Python 3.11:
#   make demo   -> creates .venv, installs genaudit, runs `audit demo`
#   make test   -> creates .venv, installs genaudit[dev], runs the test suite
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: install demo test test-all app

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/audit demo

test: install
	$(PY) -m pytest -q

test-all: install
	$(PY) -m pytest -q -m "slow or not slow"

app: install
	$(VENV)/bin/audit app
