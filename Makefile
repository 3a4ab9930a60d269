# poisonscan: make demo (main job on the embedded MNIST sample), make test (the test suite).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
POISONSCAN_DATA ?= $(abspath ../shared/datasets)
export POISONSCAN_DATA

.PHONY: setup demo test bench results clean

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

# run every paper reproduction (about 35 min on 2 cores) and collect the tables they wrote
results: setup
	for n in text mnist mnist-raw traffic-signs multimodal; do \
	  $(VENV)/bin/poisonscan reproduce $$n --out docs/results/$$n -q || exit 1; done
	$(PY) -m poisonscan.experiments.collect docs/results > docs/results.md

clean:
	rm -rf $(VENV) poisonscan-demo .pytest_cache
