# Sajja: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test bench demo contract clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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

clean:
	rm -rf $(VENV) .pytest_cache contract/node_modules
