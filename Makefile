# Two commands set everything up on a fresh machine:
#   make run    runs hotline12345 on embedded defaults (SQLite, in-process state, local files)
#   make test   installs what the tests need, then runs the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-live lint system-deps bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

system-deps:
	bash scripts/system-deps.sh

run: $(STAMP)
	$(BIN)/hotline12345 serve

# Every test, the live ones against a real Asterisk 22 included (tests/live installs the
# bundle from ../shared/asterisk-22, or skips them with one line saying how to get it;
# with CI=true a skipped live test fails the run). -m "not live" leaves them out.
test: $(STAMP) system-deps
	$(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadgroup

# Only the live tests (one Asterisk for the run).
test-live: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider -m live tests/live

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	for b in bench/*_bench.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV)
