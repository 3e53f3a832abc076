# make demo: environment from nothing + the main job on the bundled data.  make test: same set-up + the test suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# This machine's pip takes the local CPU wheel for exactly this version; the pyproject keeps a range for users.
TORCH  ?= torch==2.13.0

.PHONY: demo test test-slow lint bench study clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/adainf data info
	$(BIN)/adainf recommend --ratio 10 --out runs/recommended.json

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

test-slow: $(VENV)/.installed
	$(BIN)/python -m pytest -q --run-slow

lint: $(VENV)/.installed
	$(BIN)/ruff check adainf bounds tests experiments

bench: $(VENV)/.installed
	$(BIN)/adainf bench augment --preset symmetric --batch 512 --json

# The evidence study (issue 6, ~70 min on 2 cores) after the generated set it inflates with (~55 min, once).
study: $(VENV)/.installed runs/e07/gen20k.npz
	$(BIN)/python experiments/e06_evidence.py

runs/e07/gen20k.npz: | $(VENV)/.installed
	$(BIN)/python experiments/e07_generate.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
