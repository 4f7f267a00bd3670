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

# -rs lists each skipped test with its reason (most need ../shared beside the checkout).
test: $(VENV)/.installed
	$(PY) -m pytest -q -rs

test-slow: $(VENV)/.installed
	$(PY) -m pytest -q -rs -m slow

# The main job: train on the default track with the bundled centre-line reward until the policy
# drives 3 clean laps (or 10 minutes), then the console's reward graph, an ONNX export checked
# against torch, DeepRacer's model.pb and the car's model.tar.gz checked in OpenVINO, DeepRacer's
# 3-lap evaluation of the exported model, and a replay of its first lap as a GIF. A new demo replaces the last one's run folder.
DEMO ?= runs/demo
demo: $(VENV)/.installed
	rm -rf $(DEMO)
	$(VENV)/bin/racer train --out $(DEMO) --minutes 10 --until-lapping
	$(VENV)/bin/racer plot $(DEMO)
	$(VENV)/bin/racer export $(DEMO)
	$(VENV)/bin/racer export $(DEMO) --format deepracer
	$(VENV)/bin/racer evaluate $(DEMO)/model/policy.onnx --rewards
	$(VENV)/bin/racer replay $(DEMO) --track oval --evaluation --episode 0 --out $(DEMO)/lap.gif

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check racer tests scripts reward_functions

bench: $(VENV)/.installed
	$(PY) scripts/bench_env.py
