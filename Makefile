# linkage-hub: set up, demo, tests. Works on a fresh machine with Python >= 3.11.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: setup demo test test-core test-kafka test-browser lint bench

$(BIN)/linkage-hub: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server,test]'
	@touch $@

# The workbench's front-end packages (htmx), from the npm registry into a git-ignored folder
# that the hub serves at /vendor: nothing pasted into the repo, no CDN at run time.
WEB_VENDOR = hub/web/node_modules/htmx.org/dist/htmx.min.js
$(WEB_VENDOR): hub/web/package.json
	npm install --prefix hub/web --no-audit --no-fund --no-package-lock --silent
	@touch $@

setup: $(BIN)/linkage-hub $(WEB_VENDOR)

demo: setup
	$(BIN)/linkage-hub up --demo

# The whole suite: the core (unit + integration on Tansu and PostgreSQL), then the heavy targets
# that start a three-broker Apache Kafka cluster (Java + Maven) or a browser (Debian's Chromium).
test: test-core test-kafka test-browser

test-core: setup
	$(BIN)/pytest -q -m "not kafka_cluster and not browser"

test-kafka: setup
	$(BIN)/pytest -q -m kafka_cluster

# Browser tests only (Debian's Chromium: apt-get install chromium fonts-noto-cjk).
test-browser: setup
	$(BIN)/pytest -q -m browser tests/web

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/ingress.py
