# Two commands matter: `make run` (look at the platform) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
DEMO ?= 1
# Tests always run against this machine's real PostgreSQL and Redis unless told otherwise.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/vetted_survey
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: constraints install run test load audit lint typecheck format migrations openapi bench bench-quick bench-submissions bench-coding clean js js-check

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The versions the suite last passed with (constraints.txt), from this .venv: run after `make test` passes.
constraints: $(STAMP)
	{ sed -n '1,/^# `make constraints`/p' constraints.txt; $(PY) -m pip freeze --exclude-editable; } > constraints.tmp
	mv constraints.tmp constraints.txt

# package.json: axe-core for the browser tests, esbuild and blindrsa-ts for `make js` (nothing from node_modules is served).
NODE_STAMP := node_modules/.package-lock.json
$(NODE_STAMP): package.json package-lock.json
	if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP); \
	else echo "npm not found: the browser accessibility tests will install axe-core or skip" >&2; fi

install: $(STAMP) $(NODE_STAMP)

# The ballot bundle (frontend/build.mjs): committed, so neither CI nor a deployment needs npm; `js-check`
# rebuilds it in memory and fails unless the committed file and its manifest come out byte for byte.
js: $(NODE_STAMP)
	node frontend/build.mjs

js-check: $(NODE_STAMP)
	node frontend/build.mjs --check

run: install
	PORT=$(PORT) DEMO=$(DEMO) scripts/run.sh

test: install
	$(VENV)/bin/ruff check .
	tmp=$$(mktemp -d) && DEBUG=1 DATA_DIR=$$tmp $(PY) manage.py makemigrations --check --dry-run; \
		status=$$?; rm -rf $$tmp; exit $$status
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) SECRET_KEY=test-only-secret \
		$(VENV)/bin/pytest $(PYTEST_ARGS)

# Known vulnerabilities in the installed dependencies, from PyPI's advisory data (needs PyPI's JSON API).
# Strict: fails on a vulnerability and on any dependency it could not audit. Inside `make test`,
# tests/security/test_dependencies.py fails on a vulnerability and skips, saying why, without the data.
audit: install
	$(VENV)/bin/pip-audit --skip-editable --strict --progress-spinner off

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	SECRET_KEY=typecheck DEBUG=1 $(VENV)/bin/mypy surveys/expressions.py surveys/definition.py surveys/xlsform.py surveys/questionnaire.py

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrations: install
	DEBUG=1 $(PY) manage.py makemigrations

# docs/openapi.yaml, the API's OpenAPI schema generated from the code (drf-spectacular; no database, no
# network: scripts/openapi.sh). Run it after changing an endpoint: `make test` fails until the file matches.
openapi: install
	scripts/openapi.sh docs/openapi.yaml

# Every benchmark, one JSON report with the DESIGN figures (needs PostgreSQL, Redis and `wrk`; loopback
# only): docs/bench-report.json and the growth chart docs/performance-growth.svg (docs/performance.md).
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	HF_HUB_OFFLINE=1 $(PY) bench/run_all.py | tee docs/bench-report.json
	$(PY) bench/chart.py docs/bench-report.json docs/performance-growth.svg

# The same, quick (fewer runs, 1k and 10k responses, coding on a sample): checks the bench code; .data/.
bench-quick: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	mkdir -p .data && BENCH_QUICK=1 HF_HUB_OFFLINE=1 $(PY) bench/run_all.py | tee .data/bench-quick-report.json
	$(PY) bench/chart.py .data/bench-quick-report.json .data/bench-quick-growth.svg

bench-submissions: install
	$(PY) bench/submissions.py

# Free-text coding benchmark (prints JSON; skipped when ../shared/data is absent). See docs/performance.md.
bench-coding: install
	HF_HUB_OFFLINE=1 $(PY) bench/coding.py $(BENCH_ARGS)

# Export benchmark: CSV vs PostgreSQL COPY of the same rows, other formats as ratios, peak RSS (JSON).
bench-exports: install
	$(PY) bench/exports.py $(BENCH_ARGS)

# Load test: 1,000 officers through Locust, then every acknowledged submission accounted for (JSON).
# Also in `make test` (tests/load). Needs PostgreSQL and Redis; loopback only, bounded in time.
load: install
	$(PY) bench/load.py

clean:
	rm -rf $(VENV) .data
