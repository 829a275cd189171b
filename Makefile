# The two commands of README.md: `make demo` (the full CDP on the demo tenant) and
# `make test`. Both set up what they need first.
SHELL := /bin/bash
export DAGSTER_HOME ?= $(CURDIR)/.cdp/dagster_home
export CDP_LAKE_ROOT ?= $(CURDIR)/.cdp/lake
export CDP_DEMO_DROP ?= $(CURDIR)/.cdp/demo/drop
export CDP_DEMO_SERVICES ?= $(CURDIR)/.cdp/demo/services
export CDP_DEMO_SFTP_USER ?= $(shell id -un)
VENV := .venv/bin
PEOPLE ?= 2000
# The demo runs from a tenant repository of its own, so sandboxes can branch it; its roles
# file names CDP_DEMO_USER (CDP_USER, else your login name) sandbox-admin.
CDP_DEMO_TENANT ?= $(CURDIR)/.cdp/demo/tenant
ifndef CDP_DEMO_USER
CDP_DEMO_USER := $(or $(CDP_USER),$(shell id -un))
endif

.PHONY: setup demo test ui validate clean

setup:
	@bash scripts/bootstrap.sh
	@mkdir -p "$(DAGSTER_HOME)" && cp dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"

demo: export CDP_TENANT_DIR = $(CDP_DEMO_TENANT)
demo: export CDP_USER = $(CDP_DEMO_USER)
demo: setup
	$(VENV)/cdp demo tenant --dir "$(CDP_DEMO_TENANT)" --user "$(CDP_DEMO_USER)"
	@[ -d "$(CDP_DEMO_DROP)" ] || $(VENV)/cdp demo generate --people $(PEOPLE) --out "$(dir $(CDP_DEMO_DROP))"
	$(VENV)/cdp demo services start
	$(VENV)/cdp demo publish
	$(VENV)/cdp validate
	$(VENV)/cdp trino start
	$(VENV)/cdp materialize

test: setup
	@bash scripts/install_test_services.sh
	$(VENV)/pytest -q --durations=60 cdp_pipelines_tests

ui: setup
	$(VENV)/dagster dev -w workspace.yaml

validate: setup
	$(VENV)/dagster definitions validate -w workspace.yaml

clean:
	rm -rf .cdp
