# The exchange: `make run` serves it on http://127.0.0.1:8080, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DB ?= sqlite:///var/exchange.db
HOST ?= 127.0.0.1
PORT ?= 8080
# Test processes (pytest-xdist) that share the suite out: one per core here.
TEST_WORKERS ?= 2

.PHONY: run test install install-test lint typecheck unit bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[postgres]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	mkdir -p var
	$(BIN)/exchange --db $(DB) admin migrate
	$(BIN)/exchange --db $(DB) serve --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check exchange tests bench
	$(BIN)/ruff format --check exchange tests bench

typecheck: install-test
	$(BIN)/mypy

unit: install-test
	$(BIN)/pytest -q -n $(TEST_WORKERS)

test: install-test
	$(BIN)/ruff check exchange tests bench
	$(BIN)/ruff format --check exchange tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -n $(TEST_WORKERS)

bench: install-test
	$(BIN)/python bench/load.py --help

# Every fuzz target for FUZZ_SECONDS each (docs/reliability.md); atheris from the fuzz extra.
FUZZ_SECONDS ?= 300
fuzz: install-test
	$(BIN)/pip install --quiet -e '.[test,postgres,fuzz]'
	$(BIN)/python bench/fuzz.py --seconds $(FUZZ_SECONDS)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
