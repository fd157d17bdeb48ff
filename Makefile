# modelbay — two commands on a fresh machine: `make quickstart` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= dev,text
TORCH ?= torch==2.13.0
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
# two pytest workers: half the suite's time is spent waiting on servers and subprocesses
TEST_WORKERS ?= 2

.PHONY: quickstart test check lint typecheck layers pytest bench bench-automl bench-serve bench-layers bench-auth bench-monitor bench-metrics bench-text clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, by exact version: this machine keeps the CPU wheel on disk, and the `text`
# extra's range then installs nothing more (a bare `torch` would pull a multi-GB CUDA build).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet '$(TORCH)'
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

## Set up, then run the whole first half of the lifecycle on a bundled dataset.
quickstart: $(STAMP)
	$(BIN)/modelbay quickstart

## Set up, then lint, type-check and run every test (SQLite and PostgreSQL).
test: $(STAMP) check browser
	MODELBAY_TEST_PG_URL=$(PG_URL) $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

check: lint typecheck layers

## Debian's headless Chromium, which tests/e2e/test_docs_browser.py drives (Playwright never
## downloads a browser of its own here).
.PHONY: browser
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

## Regenerate the gRPC stubs in src/modelbay/api/grpc_v2 from its .proto (tests/api/test_proto.py checks them).
.PHONY: proto
proto: $(STAMP)
	$(BIN)/python src/modelbay/api/grpc_v2/generate.py

## ARCHITECTURE.md's import rules (layers, serve without train, no cycles): pyproject.toml.
layers: $(STAMP)
	$(BIN)/lint-imports --no-cache --no-logo

bench: $(STAMP)
	$(BIN)/python bench/train.py

## AutoML: modelbay's auto search vs FLAML (the bench extra) and a default linear model, on the
## holdout of 7 tables x 5 seeds at 20 s a fit (about 25 min; BUDGET=, SEEDS= to change).
bench-automl: $(STAMP)
	@$(BIN)/python -c 'import flaml' 2>/dev/null || $(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/automl.py $(if $(BUDGET),--budget $(BUDGET)) $(if $(SEEDS),--seeds $(SEEDS))

## Serving benchmark: modelbay vs MLflow, BentoML, MLServer under wrk on 127.0.0.1.
bench-serve: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/serve.py

## No regression: this checkout's server paired with an earlier commit's (BASELINE=REV, by
## default bench/serve.py's: 8cea589, before issue 20), same venv, same run.
.PHONY: bench-regress
bench-regress: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/serve.py --only baseline $(if $(BASELINE),--baseline $(BASELINE))

## What each layer of the inference path costs a 1,000-row binary request, in process.
bench-layers: $(STAMP)
	$(BIN)/python bench/layers.py

## What API keys cost: served req/s with auth off and on, same model, same run.
bench-auth: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/auth.py

## What the prediction log costs: served req/s with logging off and at 100%, same run.
bench-monitor: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/monitor.py

## What metrics cost a 1-row request: snapshots vs prometheus-client's multiprocess mode, in process.
bench-metrics: $(STAMP)
	$(BIN)/python bench/metrics.py

## Transformer serving: /v1/embeddings (fp32 and each optimised variant) vs in-process sentence-transformers.
bench-text: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	HF_HUB_OFFLINE=1 $(BIN)/python bench/text.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
