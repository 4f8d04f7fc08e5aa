# Quick start: `make demo` (synthetic data, both training stages, test; CPU) and `make test` (the fast tests, not
# those marked slow); `make test-all` runs every test (CI), `make lint` the static checks (ruff check and
# ruff format --check, CI), `make format` formats the tree; `make check-wheel` installs the built wheel into a
# fresh environment and runs it from another folder (CI).
# Each target creates the virtual environment in .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_out
PYTEST_ARGS ?=

.PHONY: install test test-all lint format check-wheel demo clean

install: $(STAMP)

$(STAMP): setup.py scripts/install_torch.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	scripts/install_torch.sh $(BIN)/python
	$(BIN)/python -m pip install -e ".[dev]"
	# cSEBB (AGPL, optional) for its tests, without its sed_scores_eval fork: see setup.py
	$(BIN)/python -m pip install --no-deps "sebbs==1.0.2"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .

check-wheel: $(STAMP)
	scripts/check_wheel.sh $(BIN)/python

demo: $(STAMP)
	$(BIN)/python scripts/demo.py --out $(DEMO_DIR)

clean:
	rm -rf $(VENV) $(DEMO_DIR) *.egg-info
