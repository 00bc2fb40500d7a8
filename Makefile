# Every target builds its own virtual environment first, so a fresh clone needs only Python and git.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## the console sandbox on embedded defaults: no Slack, no network, no Redis
	$(BIN)/python -m bot console

test: $(STAMP) lint  ## ruff, then every test (starts a throwaway redis-server when none is reachable)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check bot handlers tests bench
	$(BIN)/ruff format --check bot handlers tests bench

format: $(STAMP)
	$(BIN)/ruff check --fix bot handlers tests bench
	$(BIN)/ruff format bot handlers tests bench

bench: $(STAMP)  ## benchmarks against GOV.UK's clone-per-deploy baseline and Slack's limits
	$(BIN)/python -m bench

serve: $(STAMP)
	$(BIN)/python -m bot serve

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
