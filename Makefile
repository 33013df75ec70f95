# ostium: `make run` sets everything up and starts ostium; `make test` sets up and runs
# every test. Both work on a fresh Debian machine (root installs missing packages).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTHON ?= python3
DEBS := haproxy keepalived nftables iproute2 conntrack chromium curl openssl wrk
# tests/clients/test_keystone_clients.py builds a gophercloud program (GOPATH mode)
DEBS += golang-go golang-github-gophercloud-gophercloud-dev
STAMP := $(VENV)/.ostium-installed
# A real Keystone for the external-Keystone tests and `make tempest`, in a virtualenv of
# its own (its pins clash with ostium's); built once, kept in var/.
KEYSTONE_VENV ?= var/keystone-venv
KEYSTONE_STAMP := $(KEYSTONE_VENV)/.keystone-installed
KEYSTONE_PIP := keystone==30.0.0
# Octavia's API tests (`make tempest`, not part of `make test`), in their own virtualenv.
TEMPEST_VENV ?= var/tempest-venv
TEMPEST_STAMP := $(TEMPEST_VENV)/.tempest-installed
# barbican-tempest-plugin registers [service_available] barbican, without which the
# plugin skips its TERMINATED_HTTPS listener tests whatever tempest.conf says.
TEMPEST_PIP := tempest==47.0.0 octavia-tempest-plugin==3.5.0 barbican-tempest-plugin==4.6.0

.PHONY: run test setup debs lint typecheck unit clean keystone-venv tempest test-hosts

setup: $(STAMP) debs

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test]'
	@touch $(STAMP)

keystone-venv: $(KEYSTONE_STAMP)

$(KEYSTONE_STAMP): | $(STAMP)
	@test -x $(KEYSTONE_VENV)/bin/python || $(PYTHON) -m venv $(KEYSTONE_VENV)
	$(KEYSTONE_VENV)/bin/pip install -q '$(KEYSTONE_PIP)'
	OSTIUM_KEYSTONE_VENV=$(KEYSTONE_VENV) $(PY) -m tools.keystone_local template
	@touch $@

$(TEMPEST_STAMP):
	@test -x $(TEMPEST_VENV)/bin/python || $(PYTHON) -m venv $(TEMPEST_VENV)
	$(TEMPEST_VENV)/bin/pip install -q $(TEMPEST_PIP)
	@touch $@

tempest: setup keystone-venv $(TEMPEST_STAMP)
	OSTIUM_KEYSTONE_VENV=$(KEYSTONE_VENV) OSTIUM_TEMPEST_VENV=$(TEMPEST_VENV) \
	  $(PY) -m tools.tempest_run $(TEMPEST_ARGS)

debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get install -y -q $$missing || (apt-get update -q && apt-get install -y -q $$missing)) >/dev/null; \
	  else echo "missing Debian packages (run as root to install):$$missing"; fi; \
	fi

run: setup
	$(VENV)/bin/ostium serve $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench tools
	$(VENV)/bin/ruff format --check src tests bench tools
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy src

test: setup keystone-venv lint typecheck
	$(VENV)/bin/pytest -q -rs $(PYTEST_ARGS)

# Many hosts (issue 13): agents in namespaces joining one ostium, a fabric between them.
# Part of `make test`; this runs it alone.
test-hosts: setup
	$(VENV)/bin/pytest -q -rs tests/e2e/hosts $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
