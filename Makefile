# siyu — developer entry points. Run `make help` for the list.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON      ?= python3
VENV        := .venv
VENV_STAMP  := $(VENV)/.installed
VENDOR_DIR  := src/siyu/console/static/vendor
ASSET_STAMP := $(VENDOR_DIR)/.built
RUFF_PATHS  := $(strip src tests $(wildcard benchmarks))
PYTEST_ARGS ?=

# Prefix for apt-get when we are not root.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: help venv assets system-deps test lint demo bench docs constraints clean

help:
	@echo "make venv         create .venv and install siyu[dev] with constraints.txt"
	@echo "make assets       fetch htmx/echarts from npm into $(VENDOR_DIR)"
	@echo "make system-deps  apt-get install PostgreSQL server, chromium, fonts-noto-cjk if missing"
	@echo "make test         ruff, mypy, lint-imports and pytest against a throw-away PostgreSQL"
	@echo "make lint         ruff, mypy and lint-imports only"
	@echo "make demo         build the demo workspace in ./siyu-data and serve http://127.0.0.1:8000"
	@echo "make bench        run benchmarks/*.py"
	@echo "make docs         regenerate docs/settings.md, docs/cli.md and docs/roles.md"
	@echo "make constraints  regenerate constraints.txt from the virtualenv"
	@echo "make clean        remove .venv, node_modules, built assets, siyu-data and caches"

# --- Python environment -------------------------------------------------------

venv: $(VENV_STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV_STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

# --- Browser assets (npm, exact versions, no lock file) -----------------------

assets: $(ASSET_STAMP)

$(ASSET_STAMP): package.json scripts/build-assets.sh
	bash scripts/build-assets.sh
	touch $@

# --- System packages (Debian/Ubuntu) ------------------------------------------

system-deps:
	@missing=(); \
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql); \
	{ command -v chromium >/dev/null || [[ -x /usr/bin/chromium ]]; } || missing+=(chromium); \
	dpkg-query -W -f='$${Status}' fonts-noto-cjk 2>/dev/null | grep -q 'install ok installed' || missing+=(fonts-noto-cjk); \
	if (( $${#missing[@]} == 0 )); then exit 0; fi; \
	if [[ -n "$${SKIP_SYSTEM_DEPS:-}" ]]; then \
		echo "system-deps: SKIP_SYSTEM_DEPS is set; not installing: $${missing[*]}" >&2; exit 0; \
	fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "system-deps: error: missing $${missing[*]} and apt-get is not available;" \
		     "install them with your package manager (or set SKIP_SYSTEM_DEPS=1)." >&2; \
		exit 1; \
	fi; \
	echo "system-deps: installing $${missing[*]}"; \
	$(SUDO) apt-get update; \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$${missing[@]}"

# --- Checks -------------------------------------------------------------------

LINT_CMD = $(VENV)/bin/ruff check $(RUFF_PATHS) \
	&& $(VENV)/bin/ruff format --check $(RUFF_PATHS) \
	&& $(VENV)/bin/mypy \
	&& $(VENV)/bin/lint-imports

test: system-deps venv assets
	bash scripts/test-postgres.sh run -- bash -c '$(LINT_CMD) && $(VENV)/bin/pytest $(PYTEST_ARGS)'

lint: venv
	$(LINT_CMD)

# --- Running ------------------------------------------------------------------

demo: venv assets
	$(VENV)/bin/siyu demo --serve

bench: venv
	@shopt -s nullglob; \
	files=(benchmarks/[!_]*.py); \
	if (( $${#files[@]} == 0 )); then echo "bench: no benchmarks/*.py to run"; exit 0; fi; \
	for f in "$${files[@]}"; do \
		echo "==> $$f"; \
		$(VENV)/bin/python "$$f"; \
	done

# --- Maintenance --------------------------------------------------------------

docs: venv
	$(VENV)/bin/siyu-docs

constraints: venv
	@header=$$(grep -m1 '^#' constraints.txt 2>/dev/null \
		|| echo '# Exact pins for every direct and transitive dependency. Regenerate with: make constraints'); \
	setuptools_pin=$$(grep -m1 -E '^setuptools==' constraints.txt 2>/dev/null || true); \
	{ \
		echo "$$header"; \
		$(VENV)/bin/pip freeze --disable-pip-version-check --exclude-editable \
			| grep -v -i -E '^(siyu|pip|setuptools|wheel)([=<> @]|$$)' \
			| grep -v -E '^(#|-e )'; \
		if [[ -n "$$setuptools_pin" ]]; then echo "$$setuptools_pin"; fi; \
	} > constraints.txt.new; \
	mv constraints.txt.new constraints.txt; \
	touch $(VENV_STAMP); \
	echo "constraints: wrote constraints.txt ($$(grep -c '==' constraints.txt) pins)"

clean:
	rm -rf $(VENV) node_modules $(VENDOR_DIR) siyu-data \
		.pytest_cache .mypy_cache .ruff_cache test-artifacts
