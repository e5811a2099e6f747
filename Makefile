# Two commands do everything on a fresh Debian machine: `make run` and `make test`.
# Both depend on `setup`, which is idempotent and quick once done.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTHON ?= python3
# pytest-xdist: one process per core, each test file whole in one process (module fixtures
# built once). `make unit PARALLEL=` runs in one process.
PARALLEL ?= -n 2 --dist loadfile
# The database suites wait about half their time (servers, subprocesses, outages), so
# twice as many processes as cores, each with its own cluster; the longest files first
# (tests/conftest.py LONGEST_FIRST), in that order (docs/testing.md).
DB_PARALLEL ?= -n 4 --dist loadfile --no-loadscope-reorder

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

# Lint (ruff), import contracts (import-linter), then every test suite in one run: the
# unit tests fill the cores while the database suites wait (docs/testing.md); the unit
# tests start no cluster (the database fixtures are made on first use).
test: setup lint
	$(BIN)/pytest $(DB_PARALLEL) tests/unit tests/integration tests/acceptance

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The unit tests alone: Python only, no database, seconds.
unit: venv
	$(BIN)/pytest $(PARALLEL) tests/unit

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
