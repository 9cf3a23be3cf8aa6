# Two commands are all a newcomer needs: `make run` and `make test` (see README).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test lint bench eval clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/advisor run

test: $(VENV)/.installed-dev
	scripts/ensure-redis-server
	$(BIN)/ruff check .
	$(BIN)/advisor kb check
	$(BIN)/pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

eval: $(VENV)/.installed-dev
	$(BIN)/advisor eval tests/data/questions.yaml

bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
