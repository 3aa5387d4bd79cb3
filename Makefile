# Parley: `make run` starts the whole stack locally, `make test` checks everything.
# Both set themselves up on a fresh machine; a second run reinstalls nothing.
SHELL := /bin/bash
# The first Python 3.11+ that really runs (a pyenv shim for a version that is not active does not).
PYTHON ?= $(shell for p in python3.12 python3.11 python3.13 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { command -v $$p; break; }; done)
VENV := .venv
SAM_VENV := .venv-sam
LINT_VENV := .venv-lint
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 3000
PYTEST_ARGS ?=
TEMPLATE ?= template.yaml
BENCH_ARGS ?=

.PHONY: help setup rehearse run test lint unit bench clean build deploy publish page screenshot spec lock

help:
	@echo "make run    start Parley locally at http://$(HOST):$(PORT) (in-memory database unless MONGODB_URI is set)"
	@echo "make test   set up, rehearse the deploy, lint the template and run every test"
	@echo "make rehearse  transform template.yaml with AWS's SAM translator and refuse what CloudFormation would"
	@echo "make lint   cfn-lint (with the serverless rules), checkov and sam validate --lint on template.yaml"
	@echo "make bench  run the benchmarks (BENCH_ARGS=--quick for a quick run; see docs/benchmarks.md)"
	@echo "make build  sam build (ARCH=arm64 for Graviton; the runtime's python must exist, see README)"
	@echo "make deploy sam deploy --guided, then make publish"
	@echo "make publish  upload the web page (content-hashed) to the deployed stack's bucket (STACK=, REGION= or samconfig.toml)"
	@echo "make page   write the page as it is published to .aws-sam/page/ (to look at it)"
	@echo "make lock   re-pin the requirements.txt files sam build installs, from pyproject.toml's ranges"
	@echo "make spec   regenerate docs/openapi.json and the served copy of docs/asyncapi.yaml"

# The app's virtual environment, in two stamps so that serving never waits for the test tools:
# .installed-local has what `make run` needs (pyproject's `local` extra: the HTTP function's packages, mongomock,
# aiohttp, PyYAML); .installed-dev adds what the tests need (the `dev` extra: pytest, playwright, schemathesis,
# moto, cfn-lint...). Each is redone only when pyproject.toml changes.
$(VENV)/.installed-local: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Parley needs Python 3.11 or newer (python3.11, python3.12 or python3.13 on PATH)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local]'
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-local pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# SAM CLI lives in its own environment: it pins boto3 and click to versions that would downgrade the app's.
$(SAM_VENV)/.installed:
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet 'aws-sam-cli>=1.120'
	@touch $@

# The template's linters in an environment of their own: checkov pins many packages (boto3 among them) that
# would move the app's; cfn-lint-serverless adds the AWS serverless rules (cfn_lint_serverless.rules) to cfn-lint.
# Findings are fixed, or skipped next to the resource with the reason (Metadata: checkov skip, cfn-lint ignore_checks).
LINT_TOOLS := 'cfn-lint-serverless>=0.3.6,<0.4' 'checkov>=3.3.30,<4'
$(LINT_VENV)/.installed: Makefile
	@test -n "$(PYTHON)" || { echo "the linters need Python 3.11 or newer"; exit 1; }
	@test -x $(LINT_VENV)/bin/python || $(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LINT_VENV)/bin/python -m pip install --quiet $(LINT_TOOLS)
	@touch $@

setup: $(VENV)/.installed-dev

lint: $(VENV)/.installed-dev $(SAM_VENV)/.installed $(LINT_VENV)/.installed
	$(BIN)/cfn-lint template.yaml
	$(LINT_VENV)/bin/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules
	$(LINT_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --region us-east-1 --template template.yaml

# wscat (npm) for the test with a client that is not Python; project-local, installed once.
# Without npm the target only says so and the wscat test skips (under CI=true it fails instead).
WSCAT := .tools/node/node_modules/.bin/wscat
$(WSCAT):
	@if command -v npm >/dev/null; then \
		npm install --silent --no-audit --no-fund --prefix .tools/node 'wscat@^6'; \
	else echo "npm not found: the wscat test will be skipped (install nodejs and npm)"; fi

unit: $(VENV)/.installed-dev $(WSCAT)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The deploy rehearsal (parley_local/rehearsal.py, docs/local.md): AWS's SAM translator transforms the template,
# then cycles, dangling references, GetAtt attributes, Lambda permissions and roles are checked. `run` and `test`
# start with it, so a stack CloudFormation would refuse is never served or tested as if it could deploy.
rehearse: $(VENV)/.installed-local
	$(BIN)/python -m parley_local.rehearsal --template $(TEMPLATE)

test: rehearse lint unit

run: rehearse
	$(BIN)/parley-local --host $(HOST) --port $(PORT) --template $(TEMPLATE)

# The benchmarks' extra (matplotlib for the plots) on top of the app's environment; BENCH_ARGS=--quick for a quick run.
$(VENV)/.installed-bench: $(VENV)/.installed-local pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	@touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench $(BENCH_ARGS)

# sam build needs the python of the layer's BuildMethod (template.yaml) on PATH; a pyenv install that is not
# active is found too.
BUILD_PY := $(shell sed -n 's/^ *BuildMethod: python\(3\.[0-9]*\).*/\1/p' template.yaml | head -n 1)
BUILD_PY_BIN := $(shell ls -d $$(pyenv root 2>/dev/null)/versions/$(BUILD_PY).*/bin 2>/dev/null | tail -n 1)
# docs/screenshot.png: two users chatting, rendered by the browser test in Debian's chromium.
# The README's screenshot (docs/screenshot.png); its reaction shows as a box without an emoji font
# (Debian: fonts-noto-color-emoji).
screenshot: $(VENV)/.installed-dev
	PARLEY_SCREENSHOT=docs/screenshot.png $(BIN)/python -m pytest tests/browser -q -k screenshot

# ARCH (x86_64 or arm64) is the template's Architecture parameter: sam build resolves the shared layer's
# BuildArchitecture (!Ref Architecture) from --parameter-overrides and fetches manylinux wheels for it. Deploy
# with the same value (sam deploy --parameter-overrides Architecture=arm64, or answer the guided prompt).
ARCH ?= x86_64
BUILD_DIR ?= .aws-sam/build
build: $(SAM_VENV)/.installed
	PATH="$(if $(BUILD_PY_BIN),$(BUILD_PY_BIN):)$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build \
		--template template.yaml --build-dir $(BUILD_DIR) --parameter-overrides Architecture=$(ARCH)

deploy: build
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam deploy --guided
	$(MAKE) publish

# The web page (template.yaml's PageBucket Metadata: functions/auth/static/) into the stack's bucket, under
# content-hashed names (parley_local/page.py; boto3, no AWS CLI needed): hashed files first with immutable
# caching, index.html last with no-cache. The bucket's name is the stack's PageBucketName output; the stack is
# STACK (default: samconfig.toml's stack_name), REGION likewise. Run it after every deploy that changes the page.
STACK ?=
REGION ?=
publish: $(VENV)/.installed-local
	$(BIN)/python -m parley_local.page publish --template $(TEMPLATE) $(if $(STACK),--stack-name $(STACK)) $(if $(REGION),--region $(REGION))

page: $(VENV)/.installed-local
	rm -rf .aws-sam/page && $(BIN)/python -m parley_local.page build .aws-sam/page --template $(TEMPLATE)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(LINT_VENV) .aws-sam .pytest_cache .tools

# The requirements.txt files sam build installs (the shared layer, the tracing layer, AuthFunction): the whole
# closure of pyproject.toml's ranges, pinned for the Lambda target (CPython 3.12, manylinux x86_64 and aarch64),
# so two builds of one commit ship the same code. Run after changing pyproject's dependencies, or to upgrade.
lock: $(VENV)/.installed-dev
	$(BIN)/python tools/lock.py

# docs/openapi.json from what /openapi.json serves, and the HTTP function's copy of docs/asyncapi.yaml (served at
# /asyncapi.yaml); tests/test_spec_documents.py fails until they are current.
spec: $(VENV)/.installed-dev
	PARLEY_WRITE_SPECS=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_spec_documents.py
