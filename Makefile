# Set up a virtual environment with pinned dependencies and the Fashion-MNIST data, then run or test.
# Every target installs what it needs, so each works on a fresh machine with only Python 3.11.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR := /usr/share/datasets/fashion-mnist
SOURCES := $(shell find edgepipe pipeline models targets -name '*.py' -o -name '*.toml') pyproject.toml

# Debian packages: the data set, qemu-user for ARM emulation and the aarch64 cross compiler that builds
# the native .pte runner. Emulation also needs Debian's arm64 package lists.
SYSTEM_PACKAGES := dataset-fashion-mnist qemu-user-static g++-aarch64-linux-gnu

.PHONY: setup system run test clean

setup: $(VENV)/.dependencies $(VENV)/.package system

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

# Installing Debian packages needs root; without it, the missing ones are named and the rest still works.
system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	arm64=$$(dpkg --print-foreign-architectures | grep -x arm64 || true); \
	if [ -z "$$missing" ] && [ -n "$$arm64" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		[ -n "$$arm64" ] || dpkg --add-architecture arm64; \
		apt-get update -q && apt-get install -y -q $$missing; \
	else \
		echo "note: as root, run: dpkg --add-architecture arm64 && apt-get update && apt-get install $$missing" >&2; \
		echo "note: without them, pass --data DIR and --no-emulate" >&2; \
	fi

run: setup
	$(BIN)/edgepipe run --target rpi4 --budget 2MB

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info artifacts
