# make run: a working portal on http://127.0.0.1:5000 from a bare machine.
# make test: the whole suite (SQLite unless DATABASE_URL / REDIS_URL are set), without the
# load and fault tests; make test-load runs those (they need PostgreSQL and Redis).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed-stamp
PORT ?= 5000
CATALOGS := $(wildcard portal/translations/*/LC_MESSAGES/messages.po)

.PHONY: run test test-load install translations migrate demo lint security extract bench serve audit echarts

# The sensor listener runs in the background while the portal does, if a broker answers.
run: install translations migrate demo
	@if $(FLASK) sensors ping; then \
	  mkdir -p instance; \
	  echo "Starting the sensor listener (log: instance/sensors-listen.log)."; \
	  $(FLASK) sensors listen > instance/sensors-listen.log 2>&1 & LISTENER=$$!; \
	  trap 'kill $$LISTENER 2>/dev/null' EXIT INT TERM; \
	  $(FLASK) run --host 127.0.0.1 --port $(PORT); \
	else \
	  echo "The portal runs without the sensor listener."; \
	  $(FLASK) run --host 127.0.0.1 --port $(PORT); \
	fi

# One worker per core (TEST_JOBS=1 for one process); each worker has its own database
# (test_gw0, ... on PostgreSQL) and Redis db; a test file stays on one worker.
TEST_JOBS ?= auto
test: install translations
	$(BIN)/python -m pytest -m "not load" -n $(TEST_JOBS) --maxprocesses=8 --dist loadfile $(PYTEST_ARGS)

test-load: install translations
	$(BIN)/python -m pytest -m load $(PYTEST_ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Catalogs are compiled by the build, never committed as binaries.
translations: install $(CATALOGS:.po=.mo)

%.mo: %.po
	$(BIN)/pybabel compile --statistics -i $< -o $@

migrate: install
	$(FLASK) db upgrade

demo: install
	$(FLASK) demo load

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Static security scan: fails on any medium- or high-severity finding.
security: install
	$(BIN)/bandit -q -c pyproject.toml -r portal admin wsgi.py -ll

# After changing user-facing strings: extract them and merge into the catalogs.
extract: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o portal/translations/messages.pot .
	$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations --no-fuzzy-matching

# Every benchmark on SQLite at 10,000 cases; BENCH_ARGS picks rows, sizes and databases.
bench: install translations $(VENV)/.bench-stamp
	$(BIN)/python -m bench $(BENCH_ARGS)

$(VENV)/.bench-stamp: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

serve: install translations migrate
	$(BIN)/gunicorn --workers 2 --threads 4 --bind 127.0.0.1:$(PORT) wsgi:app

# Lighthouse (mobile, simulated throttling, Chinese) on every public page of a demo district
# served by gunicorn: prints scores, LCP and transfer sizes; fails when a target is missed.
# Not part of make test nor of .ci/run. Lighthouse goes into .audit/ (not committed).
LIGHTHOUSE_VERSION := 12.8.2
AUDIT_DIR := .audit
CHROME_PATH ?= /usr/bin/chromium

audit: install translations $(AUDIT_DIR)/.lighthouse-$(LIGHTHOUSE_VERSION)
	CHROME_PATH=$(CHROME_PATH) $(BIN)/python tests/audit/lighthouse.py $(AUDIT_ARGS)

$(AUDIT_DIR)/.lighthouse-$(LIGHTHOUSE_VERSION):
	mkdir -p $(AUDIT_DIR)
	test -f $(AUDIT_DIR)/package.json || echo '{"private": true}' > $(AUDIT_DIR)/package.json
	cd $(AUDIT_DIR) && npm install --no-audit --no-fund lighthouse@$(LIGHTHOUSE_VERSION)
	touch $@

# Rebuild the reduced ECharts of the KPI charts (committed; needs npm).
echarts:
	frontend/echarts/build.sh
