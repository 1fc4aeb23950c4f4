# interp: `make demo` and `make test` are all a newcomer needs; both set up .venv on first use.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export OMP_WAIT_POLICY ?= PASSIVE
export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_PROGRESS_BARS ?= 1
export TRANSFORMERS_VERBOSITY ?= error
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup demo lab test lint format pytest nbval bench zoo evaluate docs hooks-doc browser-deps clean

setup: $(STAMP)

# torch first, from the pinned local CPU build: an open range would pull a multi-GB CUDA wheel.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,docs]'
	touch $(STAMP)

demo: setup
	$(PY) -m interp demo

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

lint: setup
	$(VENV)/bin/ruff check interp widgets tests benchmarks
	$(VENV)/bin/ruff format --check interp widgets tests benchmarks

format: setup
	$(VENV)/bin/ruff check --fix interp widgets tests benchmarks
	$(VENV)/bin/ruff format interp widgets tests benchmarks

# pytest exits 5 when it collects nothing: for this project that means a broken suite, so it fails loudly.
pytest: setup
	@$(PY) -m pytest -q tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the test suite is broken" >&2; fi; exit $$rc

test: lint pytest

bench: setup
	$(PY) -m benchmarks

zoo: setup
	$(PY) -m interp.zoo.train

evaluate: setup
	$(PY) -m interp.zoo.evaluate

hooks-doc: setup
	$(PY) -m interp.docgen

# Tutorials are rendered from notebooks/ (stored outputs, not re-executed); the hook table and zoo page are
# generated from the shipped models.
docs: setup hooks-doc
	rm -rf docs/tutorials && mkdir -p docs/tutorials && cp notebooks/*.ipynb docs/tutorials/
	$(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) site .pytest_cache .ruff_cache demo.html
