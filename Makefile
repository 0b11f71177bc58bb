# `make run` sets everything up and starts the dashboard; `make test` sets everything up and runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test setup system clean

run: setup
	$(BIN)/streamlit run app.py --server.port $(PORT)

test: setup
	bash scripts/system-packages.sh --browser
	$(BIN)/python -m pytest

setup: $(VENV)/.installed system

system:
	bash scripts/system-packages.sh

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache
