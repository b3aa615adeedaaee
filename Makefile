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
PIP_FLAGS   ?= --disable-pip-version-check --no-input -q

export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(REPO)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_LOCAL_TEMP := $(BUILD)/ansible-tmp
export ANSIBLE_HOME := $(BUILD)/ansible-home

.PHONY: help venv venv-test collection demo demo-stop test check sanity units integration lint molecule build clean

help:
	@echo "make demo       weekly maintenance against a sandbox PostgreSQL, with a summary"
	@echo "make demo-stop  stop the sandbox PostgreSQL"
	@echo "make test       every check: sanity, unit, integration, ansible-lint, molecule"
	@echo "make check      quick tier for the edit loop: sanity of changed files, units, lint of changed YAML"
	@echo "make build      build the collection tarball"

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
	@$(VPY) scripts/pgsandbox.py start --dir $(SANDBOX) --port $(SANDBOX_PORT)
	@$(VPY) scripts/demo_workload.py --socket $(SANDBOX)/run --port $(SANDBOX_PORT)
	@rm -f $(REPORTS)/*.txt $(REPORTS)/*.json
	ansible-playbook -i inventories/local playbooks/maintenance-weekly.yml \
	  -e runbook_pg_login_unix_socket=$(SANDBOX)/run -e runbook_pg_login_port=$(SANDBOX_PORT) \
	  -e maintenance_report_dir=$(REPORTS) -e maintenance_force=true $(DEMO_ARGS)
	@echo; echo "================ summary ($$(ls -t $(REPORTS)/*.txt | head -1)) ================"; \
	  cat "$$(ls -t $(REPORTS)/*.txt | head -1)"; \
	  echo; echo "Sandbox PostgreSQL still running (socket $(SANDBOX)/run, port $(SANDBOX_PORT)); 'make demo-stop' stops it."

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
