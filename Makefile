# tallystream: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

UI_STAMP := ui/node_modules/.installed

$(UI_STAMP): ui/package.json ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	@touch $(UI_STAMP)

.PHONY: install
install: $(STAMP) $(UI_STAMP) ## Create the venv, install tallystream with its dev tools and the UI's npm packages
	bash deploy/kafka/kafka.sh fetch

.PHONY: browser
browser: ## Install Debian's Chromium for the browser tests (apt; needs root or sudo)
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

.PHONY: run
run: install ## Run the local stack (Kafka, worker+views, ingest) with demo traffic; Ctrl-C stops all
	$(BIN)/tallystream-stack

.PHONY: test
test: install browser ## Run unit, integration and browser tests (starts its own Kafka broker)
	$(BIN)/python -m pytest -q -p no:cacheprovider

.PHONY: test-unit
test-unit: $(STAMP) ## Run the unit tests only (no broker)
	$(BIN)/python -m pytest -q tests/unit

.PHONY: lint
lint: $(STAMP) ## Check style with ruff, and that the published event JSON Schema is current
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m schemas --check

.PHONY: schema
schema: $(STAMP) ## Regenerate schemas/event.v1.schema.json from the event models
	$(BIN)/python -m schemas

.PHONY: fmt
fmt: $(STAMP) ## Format and fix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: typecheck
typecheck: $(STAMP) ## Type-check our packages with mypy
	$(BIN)/mypy

.PHONY: admin
admin: $(STAMP) ## Tenants and keys on the local broker, e.g. make admin ARGS="key create --tenant demo --scope read"
	$(BIN)/tallystream-admin $(ARGS)

.PHONY: kafka-start
kafka-start: ## Start the local Kafka broker alone
	bash deploy/kafka/kafka.sh start

.PHONY: kafka-stop
kafka-stop: ## Stop the local Kafka broker
	bash deploy/kafka/kafka.sh stop

.PHONY: clean
clean: ## Remove local data (var/) but keep the venv and the broker jars
	bash deploy/kafka/kafka.sh stop
	find var -mindepth 1 -maxdepth 1 ! -name kafka-libs -exec rm -rf {} +

.PHONY: chaos
chaos: install ## 200k events through worker SIGKILLs, a broker restart and a store outage; exits 1 unless totals are exact
	$(BIN)/tallystream-chaos --events 200000 --seconds 90

.PHONY: bench-slice
bench-slice: install ## Throughput of the worker vs raw aiokafka consume, on the local broker
	bash deploy/kafka/kafka.sh start
	$(BIN)/python bench/slice.py --events 200000

.PHONY: bench-views
bench-views: install ## Dashboard endpoint p50/p95 at 10M events vs raw SQL, and a 1M-row CSV export's memory
	$(BIN)/python bench/views.py --events 10000000 --tenants 100

.PHONY: bench
bench: install ## Every benchmark next to its raw baseline: table, bench/results/latest.json and latest.png (~25 min)
	$(BIN)/python bench/run.py

.PHONY: bench-quick
bench-quick: install ## make bench at small sizes (a few minutes; CI runs it to keep the benchmarks working)
	$(BIN)/python bench/run.py --quick

.PHONY: bench-alerts
bench-alerts: install ## Alert latency from ingest 2xx to webhook, 100 trials, vs a raw Kafka round trip (own broker)
	$(BIN)/python bench/alerts.py --trials 100

.PHONY: bench-ingest
bench-ingest: install ## Ingest HTTP throughput and latency vs raw aiokafka produce (starts its own broker)
	$(BIN)/python bench/ingest.py --events 200000 --concurrency 2
	$(BIN)/python bench/ingest.py --events 200000 --concurrency 8 --profile-seconds 0
