# Every target builds its own virtual environment first, so a fresh clone needs only Python and git.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Most tests wait on loopback servers, git, the bot's job intervals and Slack's one post a second, not on the
# CPU: four at a time keep two cores busy. loadgroup hands out one test at a time, longest first (tests/conftest.py).
TEST_WORKERS ?= 4

.PHONY: demo test check lint format bench serve clean image-test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## the console sandbox on embedded defaults: no Slack, no network, no Redis
	$(BIN)/python -m bot console

test: $(STAMP) lint  ## ruff, then every test (starts a throwaway redis-server when none is reachable)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

check: $(STAMP) lint  ## ruff, then the unit tests only (tests/unit: no Redis, no git, no servers), in seconds
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP)
	$(BIN)/ruff check bot handlers tests bench
	$(BIN)/ruff format --check bot handlers tests bench
	$(BIN)/hadolint Dockerfile

format: $(STAMP)
	$(BIN)/ruff check --fix bot handlers tests bench
	$(BIN)/ruff format bot handlers tests bench

bench: $(STAMP)  ## benchmarks against GOV.UK's clone-per-deploy baseline and Slack's limits
	$(BIN)/python -m bench

image-test: $(STAMP)  ## build the Dockerfile (on a Debian base made here) and check the bot answers inside it; root, buildah, mmdebstrap
	bash .ci/image-test

serve: $(STAMP)
	$(BIN)/python -m bot serve

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
