# Two commands do everything on a fresh Debian machine: `make run` and `make test`.
# Both depend on `setup`, which is idempotent and quick once done.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTHON ?= python3

.PHONY: setup system venv run test lint unit bench bench-incident clean

setup: system venv

system:
	bash scripts/setup-system.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

run: setup
	$(BIN)/soar demo

# Lint (ruff), import contracts (import-linter), then every test suite.
test: setup lint
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The unit tests alone: Python only, no database, seconds.
unit: venv
	$(BIN)/pytest tests/unit

bench: setup
	$(BIN)/python bench/ingest.py

# The incident benchmark (docs/benchmarks.md): the pipeline and a synchronous baseline
# of the old design on the same simulated load, Pelias at 0, 5 and 30 s; prints JSON,
# draws .soar/bench-incident/incident.png (matplotlib: the `bench` extra).
bench-incident: setup
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(BIN)/python bench/incident.py

clean:
	-$(BIN)/soar db stop
	rm -rf .soar
