# Set up a virtual environment with pinned dependencies and the Fashion-MNIST data, then run or test.
# Every target installs what it needs, so each works on a fresh machine with only Python 3.11.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR := /usr/share/datasets/fashion-mnist
SOURCES := $(shell find edgepipe pipeline models targets -name '*.py' -o -name '*.toml') pyproject.toml

.PHONY: setup data run test clean

setup: $(VENV)/.dependencies $(VENV)/.package data

# Dependencies change rarely, so they install once per pyproject.toml change.
$(VENV)/.dependencies: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet '.[test]'
	touch $@

# The package itself reinstalls, without touching dependencies, whenever a source file changes.
$(VENV)/.package: $(VENV)/.dependencies $(SOURCES)
	$(BIN)/pip install --quiet --no-deps --force-reinstall .
	touch $@

# Fashion-MNIST comes from the Debian package dataset-fashion-mnist; installing it needs root.
data:
	@if [ -d $(DATA_DIR) ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q dataset-fashion-mnist; \
	else echo "note: $(DATA_DIR) is missing; run 'sudo apt-get install dataset-fashion-mnist' or pass --data DIR" >&2; fi

run: setup
	$(BIN)/edgepipe run --target rpi4 --budget 2MB

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info artifacts
