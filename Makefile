# The two set-up commands: `make run` and `make test`. Both create .venv when it is
# missing and reinstall only when pyproject.toml changed since the last install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0
SAMPLE ?= resources/examples/mlp_two_moons.loom

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch is installed first and pinned: an unpinned torch pulls several GB of CUDA
# packages; with 2.13.0 present the project's torch range installs nothing more.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/layerloom $(SAMPLE)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest tests

lint: $(STAMP)
	$(BIN)/ruff check .

# Every measuring script (make_templates.py and template_graphs.py write the
# examples; they are tools, not benchmarks).
BENCHMARKS := $(filter-out benchmarks/__init__.py benchmarks/make_templates.py benchmarks/template_graphs.py,$(wildcard benchmarks/*.py))

bench: $(STAMP)
	for f in $(BENCHMARKS); do $(BIN)/python -m benchmarks.$$(basename $$f .py) || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
