# Sajja: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test bench demo clean

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

test: $(STAMP)
	sh tools/system_packages.sh fonts browser promtool
	$(BIN)/python -m pytest

# wrk drives the evening-peak section of the bench from outside its own process.
bench: $(STAMP)
	sh tools/system_packages.sh bench
	$(BIN)/python -m bench

# Loads demo data into the running system (`make run` in another terminal) through the public API.
demo: $(STAMP)
	$(BIN)/python -m tools.demo

clean:
	rm -rf $(VENV) .pytest_cache
