# runbook.maintenance — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

REPO        := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV        := $(REPO)/.venv
VPY         := $(VENV)/bin/python
BUILD       := $(REPO)/.build
COLLECTIONS := $(BUILD)/collections
COLL_LINK   := $(COLLECTIONS)/ansible_collections/runbook/maintenance
SANDBOX     := $(REPO)/.sandbox/pg
SANDBOX_PORT ?= 54329
REPORTS     := $(REPO)/.sandbox/reports
SANDBOX_INVENTORY := $(REPO)/.sandbox/inventory.yml
PIP_FLAGS   ?= --disable-pip-version-check --no-input -q --no-compile  # .pyc written on first import: half the venv time

export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(REPO)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_LOCAL_TEMP := $(BUILD)/ansible-tmp
export ANSIBLE_HOME := $(BUILD)/ansible-home

.PHONY: help venv venv-test collection demo demo-stop test check sanity units integration lint molecule build clean

help:
	@echo "make demo       weekly maintenance against a sandbox PostgreSQL, with a summary;"
	@echo "                writes .sandbox/inventory.yml for your own runs against the sandbox"
	@echo "make demo-stop  stop the sandbox PostgreSQL"
	@echo "make check      the quick tier for the edit loop: sanity of changed files, units, lint (under 3 minutes)"
	@echo "make test       every check: sanity, unit, integration, ansible-lint, molecule"
	@echo "make build      build the collection tarball"
	@echo "make clean      stop the sandbox, remove .build, .sandbox and tests/output (docs/testing.md: what else to remove)"

# ---- environment ---------------------------------------------------------------------------
$(VENV)/.stamp-runtime: requirements.txt
	@py=$$($(REPO)/scripts/find-python.sh) || exit 1; \
	  if [ ! -x $(VPY) ] || ! $(VPY) -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then \
	    echo "creating $(VENV) with $$py"; rm -rf $(VENV); "$$py" -m venv $(VENV) || exit 1; fi
	$(VPY) -m pip install $(PIP_FLAGS) -r requirements.txt
	@touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-runtime requirements-test.txt
	$(VPY) -m pip install $(PIP_FLAGS) -r requirements-test.txt
	@touch $@

venv: $(VENV)/.stamp-runtime collection
venv-test: $(VENV)/.stamp-test collection

# Make the checkout importable as runbook.maintenance without installing it.
collection:
	@mkdir -p $(dir $(COLL_LINK)) $(ANSIBLE_LOCAL_TEMP) $(ANSIBLE_HOME)
	@[ -L $(COLL_LINK) ] || ln -sfn ../../../.. $(COLL_LINK)

# ---- demo ----------------------------------------------------------------------------------
demo: venv
	@$(VPY) scripts/pgsandbox.py start --dir $(SANDBOX) --port $(SANDBOX_PORT) --inventory $(SANDBOX_INVENTORY)
	@$(VPY) scripts/demo_workload.py --socket $(SANDBOX)/run --port $(SANDBOX_PORT)
	@rm -f $(REPORTS)/*.txt $(REPORTS)/*.json
	ANSIBLE_DISPLAY_SKIPPED_HOSTS=false ansible-playbook -i .sandbox/inventory.yml playbooks/maintenance-weekly.yml \
	  -e maintenance_force=true $(DEMO_ARGS)
	@echo; echo "The summary above is also in $$(ls -t $(REPORTS)/*.txt | head -1) (and .json)."; \
	  echo "Sandbox PostgreSQL still running (socket $(SANDBOX)/run, port $(SANDBOX_PORT)). Try:"; \
	  echo "  source .venv/bin/activate"; \
	  echo "  ansible-playbook -i .sandbox/inventory.yml playbooks/maintenance-weekly.yml --check"; \
	  echo "'make demo-stop' stops it; 'make clean' removes it."

demo-stop:
	@if [ -x $(VPY) ]; then $(VPY) scripts/pgsandbox.py stop --dir $(SANDBOX); \
	  else echo "no venv: nothing was started"; fi

# ---- tests ---------------------------------------------------------------------------------
test: venv-test
	@$(REPO)/tests/scripts/run-all.sh

check: venv-test
	@$(REPO)/tests/scripts/check.sh

sanity units integration lint molecule: venv-test
	@$(REPO)/tests/scripts/run-all.sh $@

build: venv
	@mkdir -p $(BUILD)/dist
	ansible-galaxy collection build --force --output-path $(BUILD)/dist .

clean: demo-stop
	rm -rf $(BUILD) $(REPO)/.sandbox $(REPO)/tests/output
