# Kubernetes: the serving containers as Deployments on EKS, from the same cdk.json serving settings
# (k8s/, cdk8s). `make k8s ENV=dev` writes build/k8s/dev/*.k8s.yaml and checks them offline:
# kubernetes-validate --strict for two Kubernetes versions, KEDA's ScaledObject schema, checkov.
K8S_OUT ?= build/k8s
K8S_VERSIONS ?= 1.31.0 1.33.0
K8S_ARGS ?=

## k8s [ENV=prod] [K8S_ARGS="-c dev:cnn_model_data_url=s3://..."]  write build/k8s/ENV/*.k8s.yaml from cdk.json, then check them
.PHONY: k8s k8s-manifests k8s-check
k8s: k8s-manifests k8s-check

k8s-manifests: $(VENV_STAMP)
	@mkdir -p $(K8S_OUT)
	$(NO_AWS_CREDENTIALS) $(PY) -m infra.images --env $(ENV) > $(K8S_OUT)/images-$(ENV).json
	$(PY) -m k8s --env $(ENV) --images $(K8S_OUT)/images-$(ENV).json --out $(K8S_OUT)/$(ENV) $(K8S_ARGS)

k8s-check: $(VENV_STAMP) $(CHECKOV_STAMP)
	$(PY) -m k8s.validate $(K8S_OUT)/$(ENV) $(foreach v,$(K8S_VERSIONS),--kubernetes-version $(v))
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --framework kubernetes --compact --directory $(K8S_OUT)/$(ENV)
