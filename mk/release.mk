# Continuous deployment (release/, .github/workflows/release.yml and promote.yml, docs/deploy.md).

## release-plan ENV=prod [BASE=ref]  print offline what a release of ENV would do: stacks, model versions, review findings
.PHONY: release-plan release-review
release-plan: $(VENV_STAMP) $(NODE_STAMP)
	@$(PY) -m release plan --env "$(ENV)" $(if $(BASE),--base "$(BASE)")

## release-review ENV=dev  review.md of the working tree against what ENV runs now (the git tag deployed/ENV)
release-review: $(VENV_STAMP) $(NODE_STAMP)
	@base="$$($(PY) -m release base --env "$(ENV)")" || exit 2; \
	if [ -n "$$base" ]; then \
		$(MAKE) --no-print-directory review BASE="$$base" CDK_CONTEXT="-c env=$(ENV)" REVIEW_OUT="$(REVIEW_OUT)"; \
	else \
		printf '# Infrastructure review\n\nFirst release of $(ENV): nothing is deployed yet (no git tag deployed/$(ENV)), so every stack is new.\n' > "$(REVIEW_OUT)"; \
		cat "$(REVIEW_OUT)"; \
	fi
