# poisonscan: make demo (main job on the embedded MNIST sample), make test (the test suite).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
POISONSCAN_DATA ?= $(abspath ../shared/datasets)
export POISONSCAN_DATA

.PHONY: setup demo test bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,demo]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/poisonscan demo --out poisonscan-demo

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) benchmarks/mnist_detection.py

clean:
	rm -rf $(VENV) poisonscan-demo .pytest_cache
