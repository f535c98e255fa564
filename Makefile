# twinwatch: two commands on a fresh machine.
#   make demo   - create the venv, install, pull the default model pack, run the demo
#   make test   - the same setup, then the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install models lint typecheck bench clean

demo: models
	$(BIN)/twinwatch demo

test: models
	$(BIN)/pytest

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

models: install
	$(BIN)/twinwatch models pull

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy indexer service

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
