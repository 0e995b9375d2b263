# The two commands: `make book` and `make test`. Both do the whole set-up first, and the
# set-up is idempotent: stamp files make a warm run skip pip and npm.
SHELL := /bin/bash
.DEFAULT_GOAL := book

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.hftinfra-installed
NPM_STAMP := node_modules/.hftinfra-installed
# chromium drives the browser test, shellcheck lints the shell scripts; the rest are the
# tools the labs and pages run.
OS_PACKAGES := chromium linuxptp chrony rt-tests hwloc-nox numactl ethtool iproute2 iputils-ping shellcheck \
	dnsmasq qemu-system-x86 ipxe-qemu ipxe ovmf busybox bats openssh-server
JUPYTERLAB_VERSION := 4.6.6
LAB_PORT ?= 8888

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: book test lab lint setup os-packages serve clean distclean help

help:
	@echo "make book   set up, execute every notebook against this host, build _build/html"
	@echo "make test   set up, then the whole test suite (unit, notebooks, book, browser)"
	@echo "make lab    JupyterLab on the notebooks (port $(LAB_PORT))"
	@echo "make lint   ruff over the library, tests and tools"
	@echo "HFTINFRA_HOST=path/to/snapshot make book   renders the book against a snapshot"

setup: os-packages $(PY_STAMP) $(NPM_STAMP)

os-packages:
	@PYTHON=$(PYTHON) bash tools/os-packages.sh $(OS_PACKAGES)

$(PY_STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || { echo "[setup] creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "[setup] pip install -r requirements.txt"
	@$(BIN)/python -m pip install -q -r requirements.txt
	@touch $@

$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "[setup] error: npm is needed for the page assets: apt-get install nodejs npm" >&2; exit 2; }
	@echo "[setup] npm ci (page assets, browser test driver)"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

book: setup
	@$(BIN)/python tools/gen_checks_reference.py
	@$(BIN)/python tools/build.py

# pytest exit 5 means it collected nothing: said out loud, and not a failure of the set-up.
test: setup
	@rc=0; $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests"; rc=0; fi; exit $$rc

$(VENV)/.jupyterlab-$(JUPYTERLAB_VERSION): $(PY_STAMP)
	@grep -v '^-e' requirements.txt > $(VENV)/constraints.txt
	@$(BIN)/python -m pip install -q "jupyterlab==$(JUPYTERLAB_VERSION)" -c $(VENV)/constraints.txt
	@touch $@

lab: setup $(VENV)/.jupyterlab-$(JUPYTERLAB_VERSION)
	@echo "JupyterLab on the notebooks; set HFTINFRA_HOST=... before 'make lab' to open a snapshot"
	@$(BIN)/jupyter lab --port $(LAB_PORT) --no-browser $(if $(filter 0,$(shell id -u)),--allow-root,)

serve:
	@$(BIN)/python -m http.server -d _build/html 8000

lint: $(PY_STAMP)
	@$(BIN)/ruff check src tests tools

clean:
	rm -rf _build

distclean: clean
	rm -rf $(VENV) node_modules
