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

.PHONY: setup demo lab test lint format pytest nbval nbval-variant gpu-check notebooks bench inseq-venv zoo evaluate tuned-lens docs hooks-doc browser-deps test-browser clean

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
# It takes about 5 minutes; a run past 30 is a hang (faulthandler_timeout has printed where) and is stopped.
pytest: setup
	@timeout 1800 $(PY) -m pytest -q tests --ignore=tests/browser; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the test suite is broken" >&2; fi; \
	if [ $$rc -eq 124 ]; then echo "pytest ran past 30 minutes and was stopped: a test hangs" >&2; fi; exit $$rc

# The tutorials, run and compared cell by cell with their stored outputs (strict; volatile text is sanitized by
# notebooks/nbval.cfg). The stored outputs are the zoo models', so strict mode ignores INTERP_CAUSAL and
# INTERP_BIDIRECTIONAL; `make nbval NBVAL_FLAGS=--nbval-lax` runs them on the models those variables name.
NBVAL_FLAGS ?= --nbval
# An empty tuned-lens cache too: translators that a user (or a test) trained into ~/.cache/interp would take
# precedence over the shipped ones and change the stored outputs.
NB_ZOO_ENV := env -u INTERP_CAUSAL -u INTERP_BIDIRECTIONAL INTERP_CACHE=$$(mktemp -d) OMP_NUM_THREADS=1
# Figure data (plotly JSON, images) is not compared (notebooks/conftest.py): the tutorials assert on it instead.
nbval: setup
	$(if $(filter --nbval,$(NBVAL_FLAGS)),$(NB_ZOO_ENV)) $(PY) -m pytest -q -p no:cacheprovider $(NBVAL_FLAGS) \
		--nbval-sanitize-with notebooks/nbval.cfg notebooks

# The same strict pass under other CPU kernels (ATen without AVX2/AVX-512, MKL limited to SSE4.2): they move the
# numbers in their last digits, as another machine's CPU does (an IG delta 2.0e-05 -> 5.5e-06, a decomposition's
# rounding 1.4e-06 -> 7.9e-07; a second thread moved less), and a stored output must not notice
# (docs/contributing.md).
NBVAL_VARIANT := ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2
nbval-variant: setup
	env $(NBVAL_VARIANT) $(MAKE) --no-print-directory nbval

# After an intended change: re-execute every tutorial with the zoo models and store its outputs. Widget state
# is not stored (each plotly FigureWidget would embed megabytes of JavaScript); static figures are.
notebooks: setup
	$(NB_ZOO_ENV) $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.store_widget_state=False --ExecutePreprocessor.timeout=600 notebooks/*.ipynb

# pytest and the two notebook passes each run on one core (tests/conftest.py and NB_ZOO_ENV set one thread), so
# they go two at a time: on a 2-core machine about 8 minutes instead of 14. Each one's output is printed whole
# when it ends; -k runs the others after a failure, so one CI run reports every failing part.
test: lint
	$(MAKE) --no-print-directory -j2 -k --output-sync=target pytest nbval nbval-variant
	$(MAKE) --no-print-directory test-browser

# On a machine with an NVIDIA GPU and a CUDA build of torch: the tutorials on the GPU against the same stored
# outputs (strict: a model loads on CUDA when it is available), then every analysis on CUDA against the CPU and a
# bfloat16 run against its stated tolerance (tests/test_gpu.py, the `gpu` mark). Results go in docs/benchmarks.md.
gpu-check: setup
	@$(PY) -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else \
		f'gpu-check needs CUDA: torch {torch.__version__} sees no GPU')"
	$(PY) -c "import torch; print('device:', torch.cuda.get_device_name(0), '| torch', torch.__version__)"
	time $(MAKE) --no-print-directory nbval
	$(PY) -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py

# The views in real JupyterLab 4 and Notebook 7 pages (Playwright + Debian's headless Chromium, tests/browser);
# screenshots and timings land in artifacts/browser/. Without Chromium it skips (CI=true: fails).
test-browser: setup
	$(PY) -m pytest -q -m browser tests/browser

# Debian's Chromium for the browser tests and for kaleido (`playwright install` is not used: it downloads).
# INTERP_CHROMIUM names another Chromium/Chrome binary for the browser tests (then nothing is installed).
browser-deps:
	@if [ -x "$${INTERP_CHROMIUM:-/usr/bin/chromium}" ]; then \
		echo "chromium: $$("$${INTERP_CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null)"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium chromium-driver; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
		sudo apt-get update && sudo apt-get install -y chromium chromium-driver; \
	else echo "browser-deps: /usr/bin/chromium is missing; as root run:" \
		"apt-get update && apt-get install -y chromium chromium-driver" >&2; exit 1; fi

bench: setup
	$(MAKE) inseq-venv || echo "inseq: its environment could not be made; the benchmarks leave it out" >&2
	$(PY) -m benchmarks

# inseq, a peer in the benchmarks, in an environment of its own: it pins typeguard<=2.13.3 (ours: 4.x, for
# jaxtyping) and CUDA 11 libraries. Installed without those libraries; torch is our pinned CPU build.
INSEQ_VENV := build/inseq-venv
$(INSEQ_VENV)/.installed:
	python3 -m venv $(INSEQ_VENV)
	$(INSEQ_VENV)/bin/pip install -q --disable-pip-version-check torch==2.13.0
	$(INSEQ_VENV)/bin/pip install -q --disable-pip-version-check --no-deps inseq==0.7.1
	$(INSEQ_VENV)/bin/pip install -q --disable-pip-version-check transformers==5.24.0 tokenizers==0.23.3 \
		safetensors==0.8.0 captum==0.9.0 jaxtyping==0.3.11 typeguard==2.13.3 matplotlib tqdm treescope rich \
		protobuf numpy sentencepiece
	touch $@

inseq-venv: $(INSEQ_VENV)/.installed

# Zoo grammar v3 (interp/zoo/corpus_v3.py): all three models at once, one thread each, each stopped by its time
# budget (train_v3.MAX_MINUTES: 100, 100 and 72 minutes), warm-started from the first v3 run kept in
# zoo/lineage/v3a/ (a shallow clone has what they read). Then the held-out tables, the cards and the tuned lens.
zoo: setup
	$(PY) -m interp.zoo.train --grammar 3 --kind causal --out interp/zoo/weights & \
	$(PY) -m interp.zoo.train --grammar 3 --kind bidirectional --out interp/zoo/weights & \
	$(PY) -m interp.zoo.train --grammar 3 --kind diffusion --out interp/zoo/weights & \
	wait
	$(MAKE) evaluate
	$(PY) -m interp.zoo.cards_v3 zoo/evaluation.json --models interp/zoo/weights
	$(MAKE) tuned-lens

# The held-out tables of issue #27 (tables in zoo/evaluation.json; about 4 minutes per model).
evaluate: setup
	$(PY) -m interp.zoo.evaluate_v3 --models interp/zoo/weights --json zoo/evaluation.json

# The tuned-lens translators shipped beside the zoo's weights, for the weights there now.
tuned-lens: setup
	$(PY) -c "from interp.analysis.tuned import ship_zoo; ship_zoo()"

hooks-doc: setup
	$(PY) -m interp docs

# Tutorials are rendered from notebooks/ (stored outputs, not re-executed); the API reference (from
# interp.analysis.__all__), the hook table and the zoo page are generated.
docs: setup hooks-doc
	rm -rf docs/tutorials && mkdir -p docs/tutorials && cp notebooks/*.ipynb docs/tutorials/
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) site .pytest_cache .ruff_cache demo.html
