# `make run` sets everything up and starts the dashboard; `make test` sets everything up and runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
STREAMLIT_FLAGS ?=

.PHONY: run test lint setup system locale translations screenshots clean

run: setup
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.address 127.0.0.1 $(STREAMLIT_FLAGS)

test: setup lint
	bash scripts/system-packages.sh --browser
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# The README's screenshots, taken by the browser tests (which otherwise keep theirs in a temporary folder).
screenshots: setup
	bash scripts/system-packages.sh --browser
	NIN_SCREENSHOT_DIR=docs/screenshots $(BIN)/python -m pytest tests/e2e

setup: $(VENV)/.installed system locale

# The messages in other languages (nin_core/i18n.py). `make translations` after adding or changing a message:
# extract every _(), N_() and ngettext() into the template, merge it into each catalog (edit the .po, rerun), and
# compile. The compiled .mo is a build output (not committed): `make setup` compiles it when its .po changed.
LOCALE := nin_core/locale
CATALOGS := $(wildcard $(LOCALE)/*/LC_MESSAGES/messages.po)

translations: $(VENV)/.installed
	$(BIN)/pybabel -q extract -F babel.cfg --no-default-keywords -k _ -k N_ -k ngettext:1,2 --no-location \
		--sort-output --width 120 -o $(LOCALE)/messages.pot .
	$(BIN)/pybabel -q update -i $(LOCALE)/messages.pot -d $(LOCALE) --width 120 --ignore-pot-creation-date
	$(BIN)/pybabel compile -d $(LOCALE) --statistics

locale: $(CATALOGS:.po=.mo)

%/LC_MESSAGES/messages.mo: %/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel -q compile -i $< -o $@

system:
	bash scripts/system-packages.sh

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache
