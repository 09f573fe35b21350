# Two entry points: `make demo` (install + run the default experiment) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
PLUGINS := plugins/mnist_data plugins/cnn_target plugins/torch_attack plugins/tabular_data \
	plugins/mlp_target plugins/wrn_target plugins/image_data plugins/text
EXAMPLES := tests/example_plugin examples/dataset examples/target examples/attack \
	examples/population_attack

# Offline data: use the shared MNIST copy when MIA_DATA_DIR is unset and it exists.
SHARED_MNIST := $(abspath ../shared/data/mnist)
ifeq ($(strip $(MIA_DATA_DIR)),)
ifneq ($(wildcard $(SHARED_MNIST)/MNIST/raw/train-images-idx3-ubyte),)
export MIA_DATA_DIR := $(SHARED_MNIST)
endif
endif

INSTALL_FLAGS := --no-build-isolation $(PIP_FLAGS)
PROJECT_FILES := pyproject.toml $(foreach p,$(PLUGINS),$(p)/pyproject.toml)

.PHONY: demo demo-text test bench docs mutation install install-test clean

# Each demo writes a new folder under runs/ (results are never overwritten); its report.html
# path is printed last.
demo: $(VENV)/.installed
	$(BIN)/mia-run --dataset mnist --attack torch-mlp --output runs/demo-$$(date +%Y%m%d-%H%M%S) $(ARGS)

# The text modality's demo: a small GPT trained on 1,000 of 4,000 WordNet glosses (offline:
# Debian's wordnet-base), audited by loss, zlib, Min-K%++, the blind baseline and LiRA with 4
# reference models.
demo-text: $(VENV)/.installed $(VENV)/.wordnet
	$(BIN)/mia-run --dataset wordnet-glosses --target gpt --attack loss-threshold --attack zlib \
		--attack min-k-plus-plus --attack blind-ngram --attack qmia --attack lira --reference-models 4 \
		--output runs/demo-text-$$(date +%Y%m%d-%H%M%S) $(ARGS)

# WordNet 3.0 (the text demo's and tests' corpus), from Debian's package registry when missing.
$(VENV)/.wordnet: $(BIN)/python
	test -f /usr/share/wordnet/data.noun || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base >/dev/null; }
	touch $@

# Two pytest workers (one torch thread each, set in tests/conftest.py), one test file per
# worker at a time so module fixtures are built once: about 35 s instead of 50 on 2 cores.
TEST_WORKERS ?= 2

test: $(VENV)/.installed-test
	$(BIN)/ruff check src plugins tests benchmarks examples docs tools
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/train_throughput.py $(ARGS)

# Mutation testing (mutmut) of every module of the core and of the attack plugin, in the groups
# of tools/mutation.py; slow (hours for all groups on 2 cores), not part of `make test` or CI.
# ARGS: group names, then `--` and mutmut's own (e.g. ARGS="audits -- --max-children 2");
# results are kept in build/mutation/GROUP/mutants between runs.
mutation: $(VENV)/.installed-test
	$(PIP) install --quiet "mutmut>=3.8"
	$(BIN)/python tools/mutation.py $(ARGS)

docs:
	$(PYTHON) docs/sync_examples.py

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=23" "setuptools>=77" wheel

$(VENV)/.installed: $(BIN)/python $(PROJECT_FILES)
	$(PIP) install --quiet $(INSTALL_FLAGS) -e . $(foreach p,$(PLUGINS),-e $(p))
	touch $@

# The MLflow reporter needs MLflow from the package registry; without it its tests skip.
# The Ray executor (and Ray) is part of the test install: its tests start a local instance.
# The report's browser test needs Debian's chromium and its driver: installed with apt-get
# when missing (CI machines start without them; about 25 s).
$(VENV)/.installed-test: $(VENV)/.installed $(VENV)/.wordnet \
		$(foreach e,$(EXAMPLES),$(e)/pyproject.toml) \
		plugins/mlflow_tracking/pyproject.toml plugins/ray_executor/pyproject.toml
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium chromium-driver >/dev/null; } || \
		echo "warning: chromium could not be installed; the browser test will be skipped"
	$(PIP) install --quiet $(INSTALL_FLAGS) -e ".[test]" $(foreach p,$(EXAMPLES),-e $(p)) \
		-e plugins/ray_executor
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 \
		--display-name "Python 3 (mia-core)" >/dev/null
	$(PIP) install --quiet $(INSTALL_FLAGS) -e plugins/mlflow_tracking || \
		echo "warning: MLflow could not be installed; the mlflow reporter tests will be skipped"
	touch $@

clean:
	rm -rf $(VENV) build src/*.egg-info plugins/*/src/*.egg-info examples/*/*.egg-info \
		tests/example_plugin/src/*.egg-info
