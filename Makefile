# A fresh clone needs only python3 (3.11+): every target builds .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: test demo bench soak lint typecheck clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "interceptor needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

test: $(INSTALLED)
	$(BIN)/python -m pytest --cov --cov-report=term
	$(BIN)/ruff check interceptor tests examples benchmarks
	$(BIN)/mypy --strict interceptor

demo: $(INSTALLED)
	$(BIN)/python examples/demo.py

bench: $(INSTALLED)
	$(BIN)/python benchmarks/run.py

soak: $(INSTALLED)
	INTERCEPTOR_SOAK=1 $(BIN)/python -m pytest tests/reliability

lint: $(INSTALLED)
	$(BIN)/ruff check interceptor tests examples benchmarks

typecheck: $(INSTALLED)
	$(BIN)/mypy --strict interceptor

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage .hypothesis
