# Set-up and entry points. Every target installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install system-packages demo lint test test-distributed test-all clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Debian packages the apps use for their offline data: Fashion-MNIST (IDX
# files), the espeak-ng speech synthesizer, Festival with three English and
# nine accented voices (the second speech engine), and the World English Bible
# and Reina-Valera 1909 SWORD modules with diatheke to render them. Skipped
# with a note where apt-get is missing or needs a password.
SYSTEM_PACKAGES := dataset-fashion-mnist espeak-ng festival festvox-kallpc16k \
	festvox-kdlpc16k festvox-us-slt-hts festvox-italp16k festvox-itapc16k \
	festvox-czech-dita festvox-czech-krb festvox-czech-machac festvox-czech-ph \
	festvox-suopuhe-lj festvox-suopuhe-mv festvox-ca-ona-hts \
	sword-text-web sword-text-sparv diatheke
system-packages:
	@if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "apt-get not found: install $(SYSTEM_PACKAGES) by other means (see README)"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES); \
	else \
	  sudo -n apt-get update -qq && sudo -n env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq $(SYSTEM_PACKAGES) || \
	    echo "could not run sudo apt-get: install $(SYSTEM_PACKAGES) yourself"; \
	fi

demo: install
	$(PY) apps/translate.py

lint: install
	$(VENV)/bin/ruff check sharedformer_tf apps tests benchmarks
	$(VENV)/bin/ruff format --check sharedformer_tf apps tests benchmarks

# The default suite runs in TEST_WORKERS processes (CI has two cores), each
# test file in one process so its module fixtures are built once.
TEST_WORKERS ?= 2
test: install
	$(PY) -m pytest -q -m "not distributed" -n $(TEST_WORKERS) --dist loadfile

# Multi-worker, mirrored and kill-and-resume tests: CI runs them after `test`.
test-distributed: install
	$(PY) -m pytest -q -m distributed tests

test-all: install
	$(PY) -m pytest -q --run-slow

clean:
	rm -rf $(VENV) .pytest_cache
