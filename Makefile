# Every target creates the environment first, so a fresh clone needs only `make book` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= cpu
NB ?= all

.PHONY: env test book lab execute student bench bench-rbm bench-gan bench-wgan lock clean

env: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e .
	$(PY) -m course_lib.env_check
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (course)" >/dev/null
	touch $(STAMP)

# Unit tests, stored-notebook checks, the book build and the browser check (tests/), then every
# notebook re-run by nbval in the smoke profile; one file per worker so a notebook stays whole.
# One torch thread per worker: two workers already fill two cores, and oversubscribed threads
# make small models many times slower.
test: env
	OMP_NUM_THREADS=1 COURSE_PROFILE=smoke $(PY) -m pytest -n 2 --dist loadfile --nbval-lax tests notebooks

book: env
	$(PY) scripts/build_book.py

# Jupyter refuses to run as root unless told; containers often are root.
lab: env
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) notebooks

# make execute NB=01_autoencoder PROFILE=cpu   (NB=all runs every notebook in order)
execute: env
	$(PY) scripts/execute_notebooks.py --profile $(PROFILE) $(NB)

student: env
	$(PY) scripts/student_edition.py

bench: env
	$(PY) bench/run_bench.py

bench-rbm: env
	COURSE_PROGRESS=off $(PY) bench/rbm_vs_sklearn.py

bench-gan: env
	COURSE_PROGRESS=off $(PY) bench/gan_throughput.py

bench-wgan: env
	COURSE_PROGRESS=off $(PY) bench/wgan_ring_penalty.py

lock: env
	$(PY) scripts/write_lock.py

clean:
	rm -rf book/_build .pytest_cache
