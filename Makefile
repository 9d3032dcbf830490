# Two commands: `make run` (a local server on http://127.0.0.1:8000) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
BIND ?= 127.0.0.1
WORKERS ?= $(shell nproc)
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/collab
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
export TEST_DATABASE_URL TEST_REDIS_URL

.PHONY: run test test-unit test-services serve bench install clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

.env:
	@echo "Writing .env for local use (DEBUG on, a random SECRET_KEY)"
	@sed "s/^SECRET_KEY=.*/SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')/; s/^DEBUG=.*/DEBUG=1/" .env.example > .env

# A local server with demo data. Migrations and seed_demo are idempotent, so
# every start runs them; seed_demo's per-write log lines are muted.
run: install .env
	$(PY) manage.py migrate --noinput
	LOG_LEVEL=WARNING $(PY) manage.py seed_demo --if-debug
	@echo "Serving on http://$(BIND):$(PORT)/ (log in as alice, password collab-demo-pass; /admin/ as admin). Ctrl-C stops."
	$(PY) -m collab_project.daphne -b $(BIND) -p $(PORT) collab_project.asgi:application

# The whole suite, twice: on the embedded default (SQLite, in-memory layer),
# then on PostgreSQL and Redis when they answer (with REQUIRE_SERVICES=1 a
# missing one fails the run). Coverage is combined over both passes.
test: install
	rm -f .coverage .coverage.*
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-services
	$(PY) -m coverage combine -q
	$(PY) -m coverage report --skip-covered --skip-empty --fail-under=$${COVERAGE_MIN:-85}

# DATABASE_URL and REDIS_URL empty rather than unset: settings would take them from .env.
test-unit: install
	DATABASE_URL= REDIS_URL= COVERAGE_FILE=.coverage.unit $(PY) -m pytest -q \
		-m "not postgres and not redis and not browser" --cov --cov-report= $(PYTEST_ARGS)

test-services: install
	@if $(PY) scripts/services_check.py; then \
		DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) REDIS_KEY_PREFIX=collabtest$$$$ \
			COVERAGE_FILE=.coverage.services \
			$(PY) -m pytest -q --cov --cov-report= $(PYTEST_ARGS); \
	elif [ "$$REQUIRE_SERVICES" = "1" ]; then \
		echo "REQUIRE_SERVICES=1 but PostgreSQL or Redis is missing"; exit 1; \
	else \
		echo "Skipping the PostgreSQL/Redis pass: the services above do not answer"; \
	fi

serve: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) scripts/serve.py --workers $(WORKERS) --port $(PORT)

# The load benchmark (docs/performance.md): its own database and workers;
# BENCH_ARGS="--quick" for a ~2-minute run, --help for scenarios and options.
bench: install
	$(PY) -m pip install -q -r bench/requirements.txt
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) staticfiles .coverage .coverage.* db.sqlite3
