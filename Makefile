# The two commands a fresh machine needs (each sets itself up first):
#   make example   the main job: the example suite replayed from cassettes/, then the audit
#   make test      the library's test suite: tests/unit and tests/e2e
#   make unit      its fast layer alone (tests/unit: in this process, well under a minute)
# Set VENV to use another virtual environment (CI uses a fresh one).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PYTEST_WORKERS ?= 2

# CI's other jobs (.ci/run): pytest-recording's suite beside the plugin, the lowest and the
# newest supported Python, the lowest allowed dependencies, packaging. Their environments
# live under build/ unless told otherwise.
PYTHON_LOWEST ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.11*/bin/python) python3.11)
PYTHON_NEWEST ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python) python3.13)
COMPAT_VENV ?= build/venv-compat
NEWEST_VENV ?= build/venv-newest
LOWEST_VENV ?= build/venv-lowest
# The test extra's packages that need torch (none installs on the newest Python: pip
# would fetch a multi-GB CUDA torch for them); tests/unit/test_packaging.py checks the list.
NEEDS_TORCH ?= torch accelerate lightning transformers
# What the other-Python and lowest-dependency runs select: the fast layer, and the plugin end
# to end beside pytest-recording (`make test` runs the whole suite); a marker narrows it.
OTHER_TESTS ?= tests/unit tests/e2e/test_plugin.py tests/e2e/test_interop.py
NEWEST_TESTS ?= $(OTHER_TESTS)
LOWEST_TESTS ?= $(OTHER_TESTS)
NEWEST_MARKER ?=
LOWEST_MARKER ?=
# The older wandb minors of the supported window (the newest is the main venv's): CI runs
# `make test-sdk SDK=<each>`, a lean venv (no torch) with that wandb and the
# record/replay/cleanup/audit flows on it; tests/unit/test_sdk_compat.py checks the list
# against the window (wandb_cassettes/compat).
SDK_OLDER ?= 0.29.0 0.30.0
SDK ?=
SDK_VENV ?= build/venv-sdk-$(SDK)
SDK_TESTS ?= tests/e2e/test_sdk_window.py tests/unit/test_sdk_compat.py \
	tests/unit/test_sdk_upgrade_matching.py tests/e2e/test_standin_distributed_and_rewind.py \
	tests/unit/test_mutations.py tests/e2e/test_recorded_flows.py
# What does not depend on the SDK (the opt-in refusal, a faked old SDK) runs in `make test`.
SDK_SELECT ?= not opt_in and not older_than_the_window and not same_minor_is_never and not refusal_asked


# The flakiness job (tests/e2e/test_flaky.py): every flow the suite records, replayed this many
# times beside busy processes and under -n 2 (the two flows issue 23 found flaky: 20 times
# each, whatever this says). CI runs it with 1, to stay under 5 minutes.
FLAKY_ROUNDS ?= 10

.PHONY: install test unit example lint audit record-example bench bench-full clean \
	compat test-newest test-lowest package-check flaky test-sdk print-sdk-older

$(VENV)/.installed: pyproject.toml standin/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' -e ./standin
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) -ra

unit: install
	$(PY) -m pytest tests/unit -ra

flaky: install
	WANDB_CASSETTES_FLAKY_ROUNDS=$(FLAKY_ROUNDS) $(PY) -m pytest tests/e2e/test_flaky.py -ra -p no:randomly

example: install
	$(PY) -m pytest examples/trainer -m fast -p no:randomly -q --block-network
	$(VENV)/bin/wandb-cassettes audit cassettes/

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy tests
	$(VENV)/bin/lint-imports

audit: install
	$(VENV)/bin/wandb-cassettes audit cassettes/

# pytest-recording's own tests (from its sdist) without and with this plugin: equal outcomes.
compat: install
	$(PY) .ci/pytest_recording_compat.py --venv $(COMPAT_VENV) --python $(PYTHON)

# The newest supported Python (NEWEST_TESTS): no torch there, so the torch tests are deselected
# and counted.
$(NEWEST_VENV)/.installed: pyproject.toml
	$(PYTHON_NEWEST) -m venv $(NEWEST_VENV)
	$(NEWEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PY) .ci/requirements.py --output $(NEWEST_VENV)/test-requirements.txt extra test --without $(NEEDS_TORCH)
	$(NEWEST_VENV)/bin/python -m pip install --quiet -e . -e ./standin -r $(NEWEST_VENV)/test-requirements.txt
	touch $@

test-newest: install $(NEWEST_VENV)/.installed
	$(PY) .ci/without_torch.py --reference $(PY) --python $(NEWEST_VENV)/bin/python \
		--workers $(PYTEST_WORKERS) --marker '$(NEWEST_MARKER)' -- $(NEWEST_TESTS)

# One wandb release of the supported window (SDK=0.29.0): its flows recorded, replayed
# (its own cassettes and those of the other minors), cleaned up and audited.
$(SDK_VENV)/.installed: pyproject.toml standin/pyproject.toml
	@test -n "$(SDK)" || { echo "make test-sdk needs SDK=<wandb version>, e.g. SDK=0.29.0"; exit 2; }
	$(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SDK_VENV)/bin/python .ci/requirements.py --output $(SDK_VENV)/test-requirements.txt extra test --without $(NEEDS_TORCH)
	$(SDK_VENV)/bin/python -m pip install --quiet -e . -e ./standin -r $(SDK_VENV)/test-requirements.txt 'wandb==$(SDK)'
	touch $@

test-sdk: $(SDK_VENV)/.installed
	$(SDK_VENV)/bin/python -m pip check
	$(SDK_VENV)/bin/python -c 'import wandb, sys; sys.exit(wandb.__version__ != "$(SDK)")'
	$(SDK_VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) -ra -p no:randomly -k '$(SDK_SELECT)' $(SDK_TESTS)

print-sdk-older:
	@echo $(SDK_OLDER)

# The lowest supported Python with every dependency at its lower bound, wandb aside: its
# oldest supported minor is test-sdk's (SDK_OLDER); LOWEST_TESTS run on its newest.
$(LOWEST_VENV)/.installed: pyproject.toml
	$(PYTHON_LOWEST) -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOWEST_VENV)/bin/python .ci/requirements.py --output $(LOWEST_VENV)/constraints.txt lowest --besides wandb
	$(LOWEST_VENV)/bin/python -m pip install --quiet -c $(LOWEST_VENV)/constraints.txt -e '.[test]' -e ./standin
	touch $@

test-lowest: $(LOWEST_VENV)/.installed
	cat $(LOWEST_VENV)/constraints.txt
	$(LOWEST_VENV)/bin/python -m pip check
	$(LOWEST_VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) -ra -m '$(LOWEST_MARKER)' $(LOWEST_TESTS)

# sdist and wheel from a clean copy; the wheel in fresh venvs (lowest and newest Python);
# the sdist's own tests (a fast part) from the unpacked sdist.
package-check: install
	$(PY) .ci/packaging.py --python $(PYTHON_LOWEST) --python $(PYTHON_NEWEST) \
		--without $(NEEDS_TORCH)

# Re-record every example cassette against a stand-in backend started for the purpose.
record-example: install
	$(PY) -m wandb_cassettes_standin --run -- $(PY) -m pytest examples/trainer -p no:randomly -q --record-mode=rewrite

bench: install
	$(PY) benchmarks/run.py

# The scale section at 1, 10, 100 and 1,000 tests in every mode (long: ~15 min).
bench-full: install
	$(PY) benchmarks/run.py --full

clean:
	rm -rf $(VENV) $(COMPAT_VENV) $(NEWEST_VENV) $(LOWEST_VENV) .pytest_cache .mypy_cache .ruff_cache
