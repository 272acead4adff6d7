# jobpulse: two commands on a fresh machine.
#   make demo   the preview-jobs example with a synthetic workload (+ Prometheus/Alertmanager when installed)
#   make test   install what the tests need (exactly the versions in uv.lock), then ruff, mypy, the
#               architecture contract and pytest
# Development:
#   make lock         refresh uv.lock to the newest releases pyproject.toml allows
#   make test-latest  the whole suite against the newest releases allowed (a separate venv, .venv-latest)

PYTHON     ?= python3
VENV       ?= .venv
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.installed
ARGS       ?=
# pytest workers: the suite waits on real servers much of the time, so more workers than cores pays off
# (measured on 2 cores: 4 workers 415 s, 5 workers 361 s). More do not: with 7 the suite is CPU-bound (over 1.8 of the
# 2 cores busy, 288-320 s on clean clones) and the end-to-end tests starve each other: a platform stall's backlog was
# still 386 jobs long after 30 s; with the five platform groups and a canary side by side, scheduler-failures paged
# on queue lag
PYTEST_WORKERS ?= 5
# pytest keeps its assertion-rewritten test modules, and Python its bytecode, between runs and workers even where
# PYTHONDONTWRITEBYTECODE is set (as on CI machines): each worker collects in 2.5 s rather than 5
PYTEST_ENV := PYTHONDONTWRITEBYTECODE=
# uv installs from the lock; it is itself pinned and bootstrapped with pip into .tools/
UV_VERSION := 0.13.9
TOOLS      := .tools
UV         := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
# installed packages come with their bytecode: without it (and with PYTHONDONTWRITEBYTECODE set, as on CI machines)
# every Python process the suite starts compiles what it imports again (jobpulse --help: 0.83 s -> 0.47 s)
export UV_COMPILE_BYTECODE := 1

.PHONY: demo test test-latest lock venv system-deps lint typecheck architecture pytest bytecode durations golden bench backtest clean

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "jobpulse needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# the locked environment: exactly what CI tested (`--locked` fails if uv.lock is out of date with pyproject.toml)
.venv/.installed: pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=.venv $(UV) sync --locked --extra dev --python $(PYTHON) --quiet
	@touch $@

# the newest releases pyproject.toml allows, resolved today (nothing written to uv.lock)
.venv-latest/.installed: pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .venv-latest
	$(UV) pip install --quiet --upgrade --python .venv-latest/bin/python -e '.[dev]'
	@$(UV) pip list --python .venv-latest/bin/python | grep -iE '^(celery|httpx|prometheus.client|pydantic|redis|rq|starlette) '
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/jobpulse demo $(ARGS)

system-deps:
	bash scripts/install-system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/ruff format --check src tests examples benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

architecture: $(STAMP)
	$(BIN)/lint-imports --no-cache --no-logo

# the project's own modules compiled first (skipped when unchanged): each pytest worker and each jobpulse, app and
# worker process the tests start reads them, rather than compiling them again
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q -j 0 src tests examples

pytest: $(STAMP) bytecode
	$(PYTEST_ENV) $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

# refresh tests/durations.json, which the suite's scheduler reads to start the longest tests first
durations: $(STAMP) bytecode
	$(PYTEST_ENV) JOBPULSE_RECORD_DURATIONS=tests/durations.json $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

test: $(STAMP) system-deps lint typecheck architecture pytest

# always re-resolved, so "latest" means today's releases
test-latest:
	rm -f .venv-latest/.installed
	$(MAKE) test VENV=.venv-latest

lock: | $(UV)
	$(UV) lock --upgrade --python $(PYTHON)

golden: $(STAMP)
	JOBPULSE_UPDATE_GOLDEN=1 $(BIN)/pytest tests/render/test_golden.py tests/compile/test_canary_rules.py -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py --write

# the preview example's backtest report (needs prometheus + promtool; exits 1 if an expected alert is missing)
backtest: $(STAMP)
	$(BIN)/jobpulse backtest examples/preview_jobs/jobpulse.yaml -o examples/preview_jobs/backtest

clean:
	rm -rf $(VENV) .venv-latest $(TOOLS) build examples/*/build .pytest_cache .mypy_cache .ruff_cache
