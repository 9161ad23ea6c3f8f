# The two commands of the README. Each does its own set-up on a fresh machine with Python 3.11.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# pytest-xdist workers: each test module runs whole on one worker, with its own test server
# (tests/conftest.py); most slow tests wait on servers and subprocesses, so two share 2 cores well.
TEST_WORKERS ?= 2

.PHONY: demo test lint format airflow node-deps chromium clean-var

# make demo CSV=path/to/folder: real daily bars (CSV files, a folder or a glob) instead of synthetic.
demo: $(STAMP)
	$(VENV)/bin/tradewind demo $(if $(CSV),--csv "$(CSV)")

test: $(STAMP) node-deps chromium
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=25 $(PYTEST_ARGS)

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

# The TimescaleDB test server (PGlite build, Node.js): npm ci from the committed lock file whenever
# node_modules is missing, partial or older than the lock (npm ci writes the stamp
# node_modules/.package-lock.json last). Without npm: a note on a laptop (those tests skip with a
# reason), an error under CI=true (where they must run, never skip).
PGLITE_DIR := tests/timescale/pglite
PGLITE_STAMP := $(PGLITE_DIR)/node_modules/.package-lock.json

node-deps:
	@if command -v npm >/dev/null 2>&1; then \
	  if [ ! -f $(PGLITE_STAMP) ] || [ $(PGLITE_DIR)/package-lock.json -nt $(PGLITE_STAMP) ] \
	     || [ ! -d $(PGLITE_DIR)/node_modules/@electric-sql/pglite-socket ]; then \
	    cd $(PGLITE_DIR) && npm ci --no-audit --no-fund --silent; \
	  fi; \
	elif [ "$${CI:-}" = "true" ]; then \
	  echo "CI=true but npm is not on PATH: the TimescaleDB tests need Node.js and npm"; exit 1; \
	else echo "npm not found: TimescaleDB tests will be skipped"; fi

# Headless Chromium for the dashboard's browser test (Debian's package; Playwright drives it, its
# own browser download is not reachable). Installed when absent and we are root with apt-get;
# otherwise that test skips with the reason (and fails under CI=true).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium (apt-get)"; \
	  apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	elif [ "$$CI" = true ]; then \
	  echo "CI=true but chromium is missing and cannot be installed (need root and apt-get)"; exit 1; \
	else echo "chromium not found and apt-get unavailable: the dashboard browser test will skip"; fi

# Airflow UI on a laptop: `airflow standalone` with the project's DAGs and plugin against the
# embedded warehouse (metadata in a database of its own); prints the URL and login.
airflow: $(STAMP)
	./scripts/airflow_standalone.sh $(AIRFLOW_ARGS)

lint:
	$(PY) -m ruff check .

format:
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean-var:
	-$(VENV)/bin/tradewind db down
	rm -rf var
