# Infrastructure: CDK synth of every stack and environment, checked by cdk-nag (during
# synth), cfn-lint and checkov. No AWS credentials and no Docker engine needed.
NODE_STAMP := node_modules/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CDK_OUT ?= cdk.out
# Extra context for synth, e.g. CDK_CONTEXT="-c env=dev -c cnn_model_package_arn=arn:..."
CDK_CONTEXT ?=
CDK := npx --no-install cdk
# Synth of every environment is for review and runs without AWS credentials: the app refuses it when the
# CLI has credentials, since that could be a deploy (infra/application.py). Hide whatever is configured.
NO_AWS_CREDENTIALS := env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
	-u AWS_WEB_IDENTITY_TOKEN_FILE -u AWS_ROLE_ARN -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
	-u AWS_CONTAINER_CREDENTIALS_FULL_URI -u CDK_DEFAULT_ACCOUNT AWS_CONFIG_FILE=/dev/null \
	AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHECKOV_STAMP): infra/requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements-checkov.txt
	touch $@

## synth  synthesize every stack of every environment into cdk.out, then cfn-lint and checkov it
.PHONY: synth
synth: $(VENV_STAMP) $(NODE_STAMP) $(CHECKOV_STAMP)
	rm -rf $(CDK_OUT)
	time $(NO_AWS_CREDENTIALS) $(CDK) synth --quiet --output $(CDK_OUT) $(CDK_CONTEXT)
	$(VENV)/bin/cfn-lint $(CDK_OUT)/*.template.json
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml --directory $(CDK_OUT)

TEST_PREREQS += $(NODE_STAMP) $(CHECKOV_STAMP)
