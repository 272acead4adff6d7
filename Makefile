# jobpulse: two commands on a fresh machine.
#   make demo   the preview-jobs example with a synthetic workload (+ Prometheus/Alertmanager when installed)
#   make test   install what the tests need, then ruff, mypy and pytest

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: demo test venv system-deps lint typecheck pytest golden bench backtest clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "jobpulse needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

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

pytest: $(STAMP)
	$(BIN)/pytest

test: $(STAMP) system-deps lint typecheck pytest

golden: $(STAMP)
	JOBPULSE_UPDATE_GOLDEN=1 $(BIN)/pytest tests/test_golden.py -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py --write

# the preview example's backtest report (needs prometheus + promtool; exits 1 if an expected alert is missing)
backtest: $(STAMP)
	$(BIN)/jobpulse backtest examples/preview_jobs/jobpulse.yaml -o examples/preview_jobs/backtest

clean:
	rm -rf $(VENV) build examples/*/build .pytest_cache .mypy_cache .ruff_cache
