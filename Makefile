# The two commands of the README: `make run` starts the platform, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
SIGNALWIRE_VENV := .venv-signalwire

.PHONY: run test venv test-venv lint bench clean

# `make run` installs the runtime only (pyproject's dependencies); the test tools (pytest, ruff, mypy,
# Playwright, the SDKs: the `test` extra) are added by `make test`, `lint` and `bench`, into the same venv.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

test-venv: $(VENV)/.installed-test

run: venv
	$(VENV)/bin/mycpaas serve

test: test-venv
	./scripts/test.sh

lint: test-venv
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

bench: test-venv
	./bench/run.sh $(BENCH_FLAGS)

clean:
	rm -rf $(VENV) $(SIGNALWIRE_VENV) tests/clients/node/node_modules build *.egg-info
