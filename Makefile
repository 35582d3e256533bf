# maiasim: two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test venv lint bench validate study docs docs-reference docs-glossary docs-catalog notebooks baselines clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $(VENV)/.installed $@

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/maiasim run scenarios/maia200-llama70b-conv.yaml -o out/

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 tests

lint: $(STAMP)
	$(BIN)/ruff check maiasim tests benchmarks tools

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

validate: $(STAMP)
	$(BIN)/python -m tools.validation

study: $(STAMP)
	$(BIN)/python -m tools.perf_per_dollar

docs-reference: $(STAMP)
	$(BIN)/python -m tools.schema_doc

docs-glossary: $(STAMP)
	$(BIN)/python -m tools.glossary

docs-catalog: $(STAMP)
	$(BIN)/python -m tools.catalog_doc

# the documentation site (MkDocs Material + mkdocstrings), warnings as errors -> site/;
# `$(BIN)/mkdocs serve` previews it live at http://127.0.0.1:8000
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# execute every notebooks/*.ipynb headless; the executed copies, with outputs, go to out/notebooks/
notebooks: $(STAMP)
	$(BIN)/python -m tools.notebooks

baselines: $(STAMP)
	$(BIN)/python -m maiasim check --update-all scenarios baselines

clean:
	rm -rf $(VENV) out site .pytest_cache
