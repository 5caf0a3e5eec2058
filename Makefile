# maskbench: `make run` trains masked PPO with the defaults; `make test` runs the test suite.
# Both install into a local venv first when needed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run sweep headline report test test-slow lint clean

install: $(STAMP)

# torch==2.13.0 resolves to the CPU wheel on disk (pip's find-links); the pin keeps pip from
# pulling the CUDA build.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(PY) -m src.run $(ARGS)

# A named sweep from sweeps/ (a Hydra multirun): make sweep NAME=layout_edge
sweep: install
	$(PY) -m src.run --multirun --config-dir sweeps --config-name $(NAME) $(ARGS)

# The headline comparison: both parts into one dir (re-running skips finished jobs), then the
# report. make headline ARGS="hydra/launcher=parallel" HEADLINE=multirun/headline
HEADLINE ?= multirun/masking_vs_embedding
headline: install
	$(PY) -m src.run --multirun --config-dir sweeps --config-name masking_vs_embedding \
		hydra.sweep.dir=$(HEADLINE)/fixed $(ARGS)
	$(PY) -m src.run --multirun --config-dir sweeps --config-name masking_vs_embedding_per_episode \
		hydra.sweep.dir=$(HEADLINE)/per_episode $(ARGS)
	$(PY) -m src.report $(HEADLINE) --out $(HEADLINE)/report

# Tables and plots from a sweep (or any dir of runs): make report DIR=multirun/<date>/<time>
report: install
	$(PY) -m src.report $(DIR)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: install
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

clean:
	rm -rf outputs multirun wandb ray_results .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
