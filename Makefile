# Two commands for a newcomer: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint format install bench reliability mutation

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Web (http://127.0.0.1:8000), Celery worker and beat on the embedded defaults, with demo data.
run: install
	DEBUG=true $(BIN)/python manage.py migrate --noinput
	DEBUG=true $(BIN)/python manage.py demo_data
	@echo ""
	@echo "Portal:    http://127.0.0.1:8000/"
	@echo "Admin:     http://127.0.0.1:8000/admin/"
	@echo "API docs:  http://127.0.0.1:8000/api/v1/docs/"
	@echo "Health:    http://127.0.0.1:8000/healthz"
	@echo ""
	@echo "Postbacks may reach this machine (127.0.0.1), for trying them against a local server."
	rm -rf var/metrics  # the counters of /metrics start again with the processes
	DEBUG=true POSTBACK_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8,::1/128 PATH="$(BIN):$$PATH" \
		$(BIN)/honcho start -f Procfile.dev

## The whole test suite (SQLite and the embedded broker unless DATABASE_URL / REDIS_URL are set).
test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Benchmarks against PostgreSQL and Redis on 127.0.0.1 (see README, "Benchmarks"); needs wrk.
bench: install
	$(BIN)/python -m bench.click
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.deliver

## Fault suite (see README, "Reliability"): starts its own PostgreSQL, Redis and nginx; a few minutes.
reliability: install
	$(BIN)/python -m reliability

## Mutation testing of the product's rules (see README, "Mutation testing"); not in CI: slow on 2 cores.
mutation: install
	$(BIN)/python -m mutation
