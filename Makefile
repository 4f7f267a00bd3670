# Set-up and the two entry points of the README: `make demo` and `make test`.
# The virtual environment is created on first use; both targets reuse it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch first, pinned: here it is the CPU build on disk (seconds, no download); on a machine with
# a GPU, pip's default index gives the CUDA build of the same version. Override with TORCH=...
TORCH ?= torch==2.13.0

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

.PHONY: install test test-slow demo lint bench

install: $(VENV)/.installed

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-slow: $(VENV)/.installed
	$(PY) -m pytest -q -m slow

demo: $(VENV)/.installed
	$(VENV)/bin/racer drive oval --out runs/demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check racer tests scripts reward_functions

bench: $(VENV)/.installed
	$(PY) scripts/bench_env.py
