# The two commands a fresh machine needs (each sets itself up first):
#   make example   the main job: the example suite replayed from cassettes/, then the audit
#   make test      the library's test suite
# Set VENV to use another virtual environment (CI uses a fresh one).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_WORKERS ?= 2

.PHONY: install test example lint audit record-example bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) -ra

example: install
	$(PY) -m pytest examples/trainer -m fast -p no:randomly -q --block-network
	$(VENV)/bin/wandb-cassettes audit cassettes/

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

audit: install
	$(VENV)/bin/wandb-cassettes audit cassettes/

# Re-record every example cassette against a stand-in backend started for the purpose.
record-example: install
	$(PY) -m wandb_cassettes.standin --run -- $(PY) -m pytest examples/trainer -p no:randomly -q --record-mode=rewrite

bench: install
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
