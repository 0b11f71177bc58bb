# `make run` sets everything up and starts the dashboard; `make test` sets everything up and runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
STREAMLIT_FLAGS ?=

.PHONY: run test lint setup system screenshots clean

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

setup: $(VENV)/.installed system

system:
	bash scripts/system-packages.sh

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache
