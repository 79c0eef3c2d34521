# Every target creates the environment first, so a fresh clone needs only `make book` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= cpu
NB ?= all

.PHONY: env test lint format book translations slides lab execute student grade checkpoints stale bench bench-rbm bench-gan bench-wgan lock clean bench-throughput

env: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e .
	$(PY) -m course_lib.authoring.env_check
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (course)" >/dev/null
	# nbgrader's JupyterLab tools for instructors (formgrader, the exchange's assignment and course
	# lists) need an nbgrader course setup that `make lab` does not have; students keep Validate.
	for plugin in menu create-assignment course-list assignment-list; do \
		$(VENV)/bin/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader:$$plugin >/dev/null 2>&1; done
	for extension in formgrader assignment_list course_list; do \
		$(VENV)/bin/jupyter server extension disable --sys-prefix nbgrader.server_extensions.$$extension >/dev/null 2>&1; done
	touch $(STAMP)

# Unit tests, stored-notebook checks, the book build and the browser check (tests/), then every
# notebook re-run by nbval in the smoke profile; one file per worker so a notebook stays whole.
# One torch thread per worker: two workers already fill two cores, and oversubscribed threads
# make small models many times slower.
test: env
	OMP_NUM_THREADS=1 COURSE_PROFILE=smoke $(PY) -m pytest -n 2 --dist loadfile --nbval-lax tests notebooks

# The lint checks of the test command (tests/test_lint.py) and the pre-commit hooks, with the pinned
# ruff: pyproject.toml's settings, and notebooks/ruff.toml's narrower lines for the notebooks.
lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Rewrite what ruff can: the fixable lint findings (import order among them), then the layout.
# What is left (long strings, comments and docstrings: E501) is listed for you to shorten, without
# stopping the formatter; `make lint` then says whether anything remains.
format: env
	$(VENV)/bin/ruff check --fix --exit-zero .
	$(VENV)/bin/ruff format .

# Both editions: English into book/_build/html, Korean into book/_build/html/ko. `make book LANG=ko`
# (or LANG=en) builds one; LANG is then taken as the edition, not as a locale for the build.
BOOK_LANGUAGE := $(filter en ko,$(LANG))
book: env
	$(if $(BOOK_LANGUAGE),env -u LANG) $(PY) scripts/build_book.py \
		$(if $(BOOK_LANGUAGE),--language $(BOOK_LANGUAGE))

# The Korean catalogues (book/locales/ko/) brought up to date with the English pages and notebooks:
# new paragraphs arrive empty, changed ones fuzzy; then it says what is left to translate.
translations: env
	$(PY) scripts/translations.py update

# One reveal.js deck per notebook, from the stored outputs, into book/_build/slides/ (opens offline).
# SLIDES_ARGS=--write-metadata first stores the slide rule's metadata (a new notebook needs it once).
slides: env
	$(PY) scripts/make_slides.py $(SLIDES_ARGS)

# JupyterLab with the course's settings: lab/overrides.json turns off the news pop-up and update
# checks and starts a notebook's kernel without asking. lab/ replaces the venv's app settings folder
# (empty in a pip venv; a test checks); changes made in Settings still go to ~/.jupyter, not into git.
# COURSE_PROFILE is emptied so that course_lib picks cpu or gpu for this machine, never a smoke
# profile left in the shell by `make test`. Jupyter refuses to run as root unless told; containers
# often are root.
lab: env
	COURSE_PROFILE= $(VENV)/bin/jupyter lab --LabApp.app_settings_dir="$(CURDIR)/lab" \
		--MappingKernelManager.default_kernel_name=python3 \
		$(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) notebooks

# make execute NB=01_autoencoder PROFILE=cpu   (NB=all runs every notebook in order)
execute: env
	$(PY) scripts/execute_notebooks.py --profile $(PROFILE) $(NB)

# Student editions into student/: written solutions and coding-exercise solutions removed, public
# checks kept (nbgrader's generate_assignment).
student: env
	$(PY) scripts/student_edition.py

# make grade SUBMISSIONS=folder: folder/<student>/<NN_topic>.ipynb graded by nbgrader (hidden checks
# restored, smoke profile, no Docker, no network) into folder/grades.csv; OVERWRITE=1 replaces it.
grade: env
	$(if $(SUBMISSIONS),,$(error Name the folder of submissions: make grade SUBMISSIONS=folder))
	$(PY) scripts/grade.py "$(SUBMISSIONS)" $(if $(filter 1,$(OVERWRITE)),--overwrite)

# make checkpoints PROFILE=cpu: every recipe of `python -m course_lib.recipes` to checkpoints/<recipe>-<profile>.pt.
# A finished checkpoint is kept (delete it to retrain) and an interrupted one is continued (--resume), so an
# interrupted `make checkpoints` picks up where it stopped. Notebooks load them with COURSE_CHECKPOINT_DIR=checkpoints.
checkpoints: env
	for recipe in $$($(PY) -c "from course_lib.recipes import RECIPES; print(*RECIPES)"); do \
		COURSE_PROGRESS=off $(PY) -m course_lib.recipes $$recipe --profile $(PROFILE) \
			$$([ -e checkpoints/$$recipe-$(PROFILE).pt ] && echo --resume) || exit 1; \
	done

bench: env
	$(PY) bench/run_bench.py

# Lists the notebooks whose stored outputs predate a change to a course_lib module they import
# (each execution records a digest of every module it imports); prints nothing when all are current.
stale: env
	@$(PY) scripts/stale.py

bench-rbm: env
	COURSE_PROGRESS=off $(PY) bench/rbm_vs_sklearn.py

bench-gan: env
	COURSE_PROGRESS=off $(PY) bench/gan_throughput.py

bench-throughput: env
	COURSE_PROGRESS=off $(PY) bench/throughput.py

bench-wgan: env
	COURSE_PROGRESS=off $(PY) bench/wgan_ring_penalty.py

lock: env
	$(PY) scripts/write_lock.py

clean:
	rm -rf book/_build .pytest_cache
