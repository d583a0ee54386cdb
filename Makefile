# The two commands of the README: `make demo` runs the example CRM, `make test` runs the whole suite.
# Both create (once) and reuse a local virtualenv in .venv with only a Python 3.11+ on the machine.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@# The MariaDB driver builds from source: without libmariadb-dev, pkg-config and a compiler the
	@# MariaDB tests skip (and fail under CI=true, where .ci/run installs them).
	$(PY) -m pip install --quiet -e '.[mysql]' || echo "mysqlclient could not be built: the MariaDB tests will skip."
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m example_project.demo

test: $(STAMP)
	$(MAKE) --no-print-directory lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check noojee_django example_project tests bench
	$(VENV)/bin/ruff format --check noojee_django example_project tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy noojee_django

pytest: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/download_leg.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache var
