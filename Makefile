# maskbench: `make run` trains masked PPO with the defaults; `make test` runs the test suite.
# Both install into a local venv first when needed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run sweep study headline report test test-slow lint clean

install: $(STAMP)

# torch==2.13.0 resolves to the CPU wheel on disk (pip's find-links); the pin keeps pip from
# pulling the CUDA build.
# constraints.txt: every package at the version the committed results were made with (unpinned
# numpy/gymnasium releases changed make run's numbers between two fresh installs).
$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: install
	$(PY) -m src.run $(ARGS)

# A named sweep from sweeps/ (a Hydra multirun): make sweep NAME=layout_edge
sweep: install
	$(PY) -m src.run --multirun --config-dir sweeps --config-name $(NAME) $(ARGS)

# A study: its sweeps (parts) into one dir, then one report in docs/$(NAME). Its record (each
# finished run's config, metrics and summary) is committed under $(STUDY_DOCS)/runs: restored into
# the sweep dir first, so only the runs missing from it are trained (a fresh STUDY_DOCS re-runs
# all), and archived after each part, also when the part failed or was interrupted.
#   make study NAME=penalty ARGS="hydra/launcher=parallel"
# A study's parts are PARTS_<name> (sweep config:subdir), else its one sweep sweeps/<name>.yaml;
# REPORT_ARGS_<name>: its report's options (--score task_return: penalties left out of the score;
# --compare framework: the frameworks are the treatments).
PARTS_masking_vs_embedding := masking_vs_embedding:fixed masking_vs_embedding_per_episode:per_episode
PARTS_penalty := penalty:unmasked penalty_masked:masked
PARTS_action_space_scale := action_space_scale:fixed action_space_scale_per_step_mask:per_step_mask
PARTS_games_penalty := games_penalty:unmasked games_penalty_masked:masked
PARTS_games_mask_prediction := games_mask_prediction:predicts games_mask_prediction_reference:reference
REPORT_ARGS_action_space_scale := --score task_return
REPORT_ARGS_penalty := --score task_return
REPORT_ARGS_games := --score task_return
REPORT_ARGS_games_entropy := --score task_return
REPORT_ARGS_games_penalty := --score task_return
REPORT_ARGS_games_mask_prediction := --score task_return
REPORT_ARGS_chess_probe := --score task_return
REPORT_ARGS_frameworks := --compare framework
STUDY_DIR ?= multirun/$(NAME)
STUDY_DOCS ?= docs/$(NAME)
STUDY_PARTS = $(or $(PARTS_$(NAME)),$(NAME):all)
study: install
	@test -n "$(NAME)" || { echo "make study NAME=<study>: one of sweeps/*.yaml" >&2; exit 2; }
	$(PY) -m src.sweep restore $(STUDY_DOCS)/runs $(STUDY_DIR)
	set -e; for part in $(STUDY_PARTS); do \
		name=$${part%%:*}; dir=$(STUDY_DIR)/$${part##*:}; \
		status=0; $(PY) -m src.run --multirun --config-dir sweeps --config-name $$name \
			hydra.sweep.dir=$$dir $(ARGS) || status=$$?; \
		$(PY) -m src.sweep archive $(STUDY_DIR) $(STUDY_DOCS)/runs; \
		test $$status -eq 0; \
	done
	$(PY) -m src.report $(STUDY_DOCS)/runs --out $(STUDY_DOCS) $(REPORT_ARGS_$(NAME))

# The headline comparison (both parts of masking_vs_embedding), as a study.
#   make headline ARGS="hydra/launcher=parallel"
HEADLINE ?= multirun/masking_vs_embedding
HEADLINE_DOCS ?= docs/masking_vs_embedding
# ARGS reaches the sub-make as a command-line variable (MAKEFLAGS), with its quoting intact.
headline:
	$(MAKE) study NAME=masking_vs_embedding STUDY_DIR=$(HEADLINE) STUDY_DOCS=$(HEADLINE_DOCS)

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
