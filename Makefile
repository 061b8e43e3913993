# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The demo's database; example_project/settings.py's default database too (no DATABASE_URL needed after make demo).
DEMO_DB := $(CURDIR)/demo.sqlite3
PIP    := $(BIN)/pip install --quiet --disable-pip-version-check

.PHONY: demo serve test lint install install-test screenshot clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run clock_app

test: lint
	$(BIN)/pytest

demo: install
	rm -f $(DEMO_DB)
	DATABASE_URL=sqlite:///$(DEMO_DB) $(BIN)/python manage.py migrate --verbosity 0
	DATABASE_URL=sqlite:///$(DEMO_DB) CLOCK_LOG_LEVEL=ERROR $(BIN)/python manage.py clock_simulate --users 1000 --days 3
	@echo
	@echo "Now see it: 'make serve', then open http://127.0.0.1:8000/ (pick any player number)."

serve: install
	@test -f $(DEMO_DB) || $(MAKE) demo
	DATABASE_URL=sqlite:///$(DEMO_DB) $(BIN)/python manage.py runserver 127.0.0.1:8000

screenshot: install-test  # refresh docs/challenge.png and docs/dashboard.png from the browser tests
	CLOCK_SCREENSHOT=$(CURDIR)/docs/challenge.png $(BIN)/pytest -q tests/test_browser.py
	CLOCK_SCREENSHOT_DASHBOARD=$(CURDIR)/docs/dashboard.png $(BIN)/pytest -q tests/test_dashboard_browser.py

clean:
	rm -rf $(VENV) $(DEMO_DB) .pytest_cache .ruff_cache .hypothesis
