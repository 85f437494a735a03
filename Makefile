# The two commands a newcomer needs: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
WEB_PORT ?= 8000

.PHONY: install run test lint typecheck pytest chromium lock clean help bench drills

help:
	@echo "make run    start the CRM with demo data on http://localhost:$(WEB_PORT)"
	@echo "make test   lint, type-check and run every test"
	@echo "make bench  run the benchmarks and write bench/results.md"
	@echo "make drills stop PostgreSQL, Redis, a worker and SMTP under a running system (CI runs it)"
	@echo "make lock   re-resolve requirements.lock after editing pyproject.toml"

$(VENV)/.installed: requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	@touch $@

node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.installed node_modules/.installed

run: export DEBUG ?= true
run: install
	python manage.py migrate --no-input
	python manage.py seed_demo --if-empty --users
	@echo ""
	@echo "  Union outreach CRM: http://localhost:$(WEB_PORT)/  (Ctrl-C stops the web server, worker and beat)"
	@echo ""
	WEB_PORT=$(WEB_PORT) honcho -f Procfile.dev start

chromium:
	@command -v chromium >/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

lint: install
	ruff check .
	ruff format --check .

typecheck: install
	mypy .

# scripts/services_env.py points the tests at PostgreSQL and Redis when they answer (required
# under CI=true) and prints the settings it chose.
pytest: install chromium
	@eval "$$(python scripts/services_env.py)" && pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# Benchmarks on PostgreSQL and Redis (a database of their own, crm_bench); writes bench/results.md.
bench: install
	@eval "$$(python scripts/services_env.py)" && python bench/run.py

# Fault drills (tests/drills/): real gunicorn, Celery worker and beat; PostgreSQL restarted, Redis
# stopped two minutes, a worker killed mid-import, SMTP unreachable. Each prints what it did and
# what it checked. They stop this machine's PostgreSQL, so `make test` leaves them out.
drills: install
	@eval "$$(python scripts/services_env.py)" && CRM_REQUIRE_SERVICES=1 \
		pytest --drills tests/drills -s $(PYTEST_ARGS)

lock:
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links --extra dev -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
