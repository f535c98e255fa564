# twinwatch: two commands on a fresh machine.
#   make demo   - create the venv, install, pull the default model pack, run the demo
#   make test   - the same setup, then the whole test suite on SQLite, then the database-facing
#                 tests again on a throwaway PostgreSQL server (skipped if PostgreSQL cannot
#                 be found or installed); the console's browser tests run in Debian's headless
#                 chromium with axe-core from npm (scripts/ensure-browser-tests.sh sets both up);
#                 PDF takedown notices need Pango (scripts/ensure-pdf.sh installs it)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install models lint typecheck bench bench-deps calibrate clean

demo: models
	$(BIN)/twinwatch demo


test: models
	scripts/ensure-browser-tests.sh
	scripts/ensure-pdf.sh
	$(BIN)/pytest
	scripts/with-postgres.sh $(BIN)/pytest -q -p no:cacheprovider -m postgres

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps 'invisible-watermark==0.2.0'
	touch $(STAMP)

models: install
	$(BIN)/twinwatch models pull

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy indexer service tests bench

# Benchmarks (bench/, see docs/benchmarks.md). The peer library face_recognition is installed
# with --no-deps: its metadata asks for `dlib` (a source build); dlib-bin provides it prebuilt.
bench-deps: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m pip install --quiet --no-deps 'face_recognition==1.3.0'

bench: models
	$(BIN)/python -m bench.all

calibrate: models
	$(BIN)/python -m bench.calibrate

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
