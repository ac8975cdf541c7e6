# Slipway — continuous deployment for Kubernetes, kept in Git.
# `make help` lists the targets.

GO            ?= go
STATICCHECK   ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.6.1
E2E_TIMEOUT   ?= 60m
UNIT_PKGS      = $(shell $(GO) list ./... | grep -v /e2e)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: demo
demo: ground ## run Slipway's main job on the embedded default: the test ground plus slipway serve syncing the example
	$(GO) run ./e2e/cmd/demo

.PHONY: testground
testground: ground ## start the test ground by hand and print how to reach it
	$(GO) run ./e2e/cmd/testground

.PHONY: ground
ground: ## build the test ground's binaries into the cache (once; ~20 min cold)
	$(GO) run ./e2e/cmd/testground build

.PHONY: build
build: ## build bin/slipway
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/slipway ./cmd/slipway

.PHONY: test
test: lint ground unit e2e ## everything CI runs: lint, unit tests, e2e tests on the test ground

.PHONY: octokit
octokit: ## fetch GitHub's OpenAPI description and webhook examples (npm) into the cache, once
	bash scripts/octokit.sh

.PHONY: unit
unit: octokit ## unit tests (with the race detector)
	$(GO) test -race -count=1 $(UNIT_PKGS)

.PHONY: e2e
e2e: ground ## end-to-end tests against the test ground
	$(GO) test -count=1 -timeout $(E2E_TIMEOUT) ./e2e/...

.PHONY: bench-reconcile
bench-reconcile: ground ## benchmark the reconciler on the test ground: N=100 and 1,000 apps (prints figures)
	SLIPWAY_GROUND_NODES=12 $(GO) test -count=1 -run '^$$' -bench BenchmarkReconcile -benchtime 1x -timeout 60m ./e2e/

.PHONY: bench-pipeline
bench-pipeline: ground ## benchmark release orders on the test ground: 10 image pushes, each through the deployTesting pipeline (prints figures)
	$(GO) test -count=1 -run '^$$' -bench BenchmarkPipeline -benchtime 1x -timeout 20m ./e2e/

.PHONY: bench-forge
bench-forge: ground ## benchmark pull request plans and chat-ops replies on the test ground's Gitea (prints figures)
	$(GO) test -count=1 -run '^$$' -bench BenchmarkForge -benchtime 1x -timeout 20m ./e2e/

.PHONY: bench-webhooks
bench-webhooks: ground ## benchmark webhooks on the test ground: signed deliveries/s, latency, push→commit, push→healthy
	$(GO) test -count=1 -run '^$$' -bench BenchmarkWebhooks -benchtime 1x -timeout 30m ./e2e/

.PHONY: lint
lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

.PHONY: clean
clean: ## remove build output (the ground's cache stays in ~/.cache/slipway)
	rm -rf bin
