# linkage-hub: set up, demo, tests. Works on a fresh machine with Python >= 3.11.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: setup demo test lint bench

$(BIN)/linkage-hub: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server,test]'
	@touch $@

setup: $(BIN)/linkage-hub

demo: setup
	$(BIN)/linkage-hub up --demo

test: setup
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/ingress.py
