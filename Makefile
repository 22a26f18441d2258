# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
WORKERS ?= 1
THREADS ?= 8
FLASK := $(BIN)/flask --app app

.PHONY: install run dev test test-fast lint format bench bench-viewer demo clean bench-exports \
	bench-streams

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## make run: install if needed, migrate, serve with gunicorn on HOST:PORT.
run: install
	$(FLASK) db upgrade
	@echo "Serving on http://$(HOST):$(PORT)"
	$(BIN)/gunicorn --workers $(WORKERS) --threads $(THREADS) --bind $(HOST):$(PORT) \
		--access-logfile - 'app:create_app()'

## make dev: the same with Flask's reloading debug server.
dev: install
	$(FLASK) db upgrade
	$(FLASK) run --debug --host $(HOST) --port $(PORT)

## make test: the whole suite (unit, API, browser) on SQLite, and on PostgreSQL when
## TEST_DATABASE_URL is set.
test: install
	$(BIN)/python -m tests.prerequisites
	$(BIN)/pytest $(PYTEST_ARGS)

## make test-fast: everything but the browser tests.
test-fast: install
	$(BIN)/pytest -m "not e2e" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench

## make bench-viewer: the event viewer's page times at 1M events in each of two
## organizations (SQLite in instance/bench/, reused; BENCH_DATABASE_URL for PostgreSQL).
bench-viewer: install
	$(BIN)/python -m bench.viewer $(if $(BENCH_DATABASE_URL),--database-url $(BENCH_DATABASE_URL))

## make bench-streams: log streams draining a 1M-event backlog (webhook, S3) beside a raw
## read, and their lag under a steady 500 events/s (the viewer benchmark's data, copied).
bench-streams: install
	$(BIN)/python -m bench.streams $(if $(BENCH_DATABASE_URL),--database-url $(BENCH_DATABASE_URL))

## make bench-exports: an export of 1M events (the viewer benchmark's data, copied to
## instance/bench/exports.db) against a raw SELECT -> csv.writer loop; BENCH_DATABASE_URL for PostgreSQL.
bench-exports: install
	$(BIN)/python -m bench.exports $(if $(BENCH_DATABASE_URL),--database-url $(BENCH_DATABASE_URL))

## make demo: a demo organization with 100,000 events in its own database, served.
DEMO_DATABASE_URL ?= sqlite:///$(CURDIR)/instance/demo.db
demo: install
	DATABASE_URL=$(DEMO_DATABASE_URL) $(FLASK) db upgrade
	DATABASE_URL=$(DEMO_DATABASE_URL) $(FLASK) demo setup --events 100000
	@echo "Serving the demo on http://$(HOST):$(PORT)"
	DATABASE_URL=$(DEMO_DATABASE_URL) $(BIN)/gunicorn --workers $(WORKERS) --threads $(THREADS) \
		--bind $(HOST):$(PORT) 'app:create_app()'

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
