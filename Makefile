# The two commands of the README: `make demo` runs the example CRM, `make test` runs the whole suite.
# Both create (once) and reuse a local virtualenv in .venv with only a Python 3.11+ on the machine.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The suite runs on PYTEST_WORKERS xdist workers, one more than the cores: it waits on servers and
# subprocesses a third of the time (on two cores, 3 workers and 4 take the same time, 2 take a third
# longer). Tests sharing an expensive module fixture stay on one worker (--dist loadgroup), and the
# longest tests start first (tests/conftest.py orders them; --no-loadscope-reorder keeps that order).
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
# Each worker, and each process a test starts (Celery, gunicorn, the emulator, a nested pytest), imports
# the app and the tests again: with PYTHONDONTWRITEBYTECODE set, each compiles (and pytest rewrites)
# every module again, a third of a worker's start-up. __pycache__ is ignored by git.
unexport PYTHONDONTWRITEBYTECODE
XDIST := -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder

.PHONY: demo test test-fast lint typecheck pytest bench clean

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
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

# The inner loop: no lint or types, no slow tests, the last run's failures first, stop at the first.
test-fast: $(STAMP)
	$(PY) -m pytest $(XDIST) -m "not slow" -x --ff -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/download_leg.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache var
