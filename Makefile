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

.PHONY: run test test-load install translations migrate demo lint security extract bench serve

run: install translations migrate demo
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

test: install translations
	$(BIN)/python -m pytest -m "not load" $(PYTEST_ARGS)

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
