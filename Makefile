# The two commands of the README: `make run` starts the platform, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
SIGNALWIRE_VENV := .venv-signalwire

.PHONY: run test venv lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

run: venv
	$(VENV)/bin/mycpaas serve

test: venv
	./scripts/test.sh

lint: venv
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

bench: venv
	./bench/run.sh $(BENCH_FLAGS)

clean:
	rm -rf $(VENV) $(SIGNALWIRE_VENV) tests/clients/node/node_modules build *.egg-info
