# Set-up and entry points. Every target installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install demo test test-all clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) apps/translate.py

test: install
	$(PY) -m pytest -q

test-all: install
	$(PY) -m pytest -q --run-slow

clean:
	rm -rf $(VENV) .pytest_cache
