# Quick start: `make run` (install, migrate, demo data, serve) and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install browser run test lint bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium, which the portal's browser tests drive (tools/install-chromium).
browser:
	./tools/install-chromium

run: $(STAMP)
	$(BIN)/partner-api db upgrade
	$(BIN)/partner-api demo
	$(BIN)/partner-api serve

test: $(STAMP)
	-./tools/install-chromium
	$(BIN)/pytest

# The portal's main pages, as the browser tests see them, into docs/screenshots.
screenshots: $(STAMP) browser
	SCREENSHOT_DIR=docs/screenshots $(BIN)/pytest tests/portal/test_browser.py -q

# Figures at scale on this machine: see bench/run.py and the README's Performance section.
bench: $(STAMP)
	$(BIN)/python -m bench.run

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) instance
