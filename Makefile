# ITSM process orchestrator: build, test and run.
#
#   make test    everything CI runs (.ci/run calls exactly this)
#   make run     migrate, deploy the BPMN library, create demo users, serve on 127.0.0.1:5000
#
# Every target installs what it needs itself, so a fresh Debian 12 machine only needs
# python3 (with venv), make and apt-get.

SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

VENV  := .venv
BIN   := $(VENV)/bin
PY    := $(BIN)/python
STAMP := $(VENV)/.installed

# apt-get needs root: use sudo only when we are not root already.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv postgres lint typecheck test run bench clean distclean

# venv: create .venv if missing; (re)install the project editable with its dev extras only
# when pyproject.toml is newer than the stamp file, so repeated runs cost nothing.
venv: $(STAMP)

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# postgres: make sure the PostgreSQL server binaries (initdb, pg_ctl) exist; install Debian's
# package if not. We never start or touch the Debian default cluster: the test suite runs its
# own throwaway cluster on 127.0.0.1 (tests/support/pg_cluster.py). If the package created and
# started one, it is left alone.
postgres:
	@if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then \
		echo "PostgreSQL server binaries not found: installing the postgresql package"; \
		$(SUDO) apt-get update -qq; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	fi

# lint: ruff, then the import-layer contracts in pyproject.toml (either failing fails the build).
lint: venv
	$(BIN)/ruff check engine storage forms api tests
	$(BIN)/lint-imports

# typecheck: mypy in strict mode on the packages listed under [tool.mypy] (engine forms storage api).
typecheck: venv
	$(BIN)/mypy

# test: lint, type-check, then the whole pytest suite. The suite starts a throwaway
# PostgreSQL cluster on 127.0.0.1 itself and stops it at the end.
test: venv postgres lint typecheck
	$(PY) -m pytest

# run: upgrade the database, deploy the BPMN process library, create the demo users (prints
# their passwords/tokens once; idempotent) and serve on http://127.0.0.1:5000.
run: venv
	$(BIN)/itsm db upgrade
	$(BIN)/itsm deploy bpmn
	$(BIN)/itsm demo-users
	$(BIN)/itsm serve --host 127.0.0.1 --port 5000

# bench: the built-in benchmark.
bench: venv
	$(BIN)/itsm bench

# clean: remove caches and build output (keeps .venv; see distclean).
clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -print0 | xargs -0 rm -rf

# distclean: clean, and remove the virtualenv too.
distclean: clean
	rm -rf $(VENV)
