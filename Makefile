# Verity: `make run` serves the app with a demo; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test install install-dev browser lint bench-small clean-data

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# Playwright drives a system Chromium where there is one (apt-get as root when not),
# otherwise Playwright's own build.
browser: install-dev
	@if command -v chromium >/dev/null || [ -x /usr/bin/chromium ]; then \
		echo "browser: system Chromium"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)) \
		&& echo "browser: installed Debian chromium"; \
	else \
		$(VENV)/bin/playwright install chromium; \
	fi

run: install
	$(PY) -m apps.core.launcher run

# DEBUG=1 only shapes the settings module (dev cookies, static storage); pytest-django
# still runs every view with DEBUG off.
test: install-dev browser
	DEBUG=1 $(PY) -m apps.core.launcher exec -- $(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check apps config tests bench

bench-small: install-dev
	for b in bench/*.py; do DEBUG=1 $(PY) -m apps.core.launcher exec -- $(PY) $$b --scale small || exit 1; done

clean-data:
	@echo "This deletes the embedded database and every upload in .data/."
	rm -rf .data
