# caddy-webhook-ingress: `make run` and `make test` set up everything they need.
SHELL := /bin/bash
GO ?= go
BIN := bin/caddy
FUZZTIME ?= 3s

# Development secrets for `make run`; set real ones in the environment.
export STANDARD_SECRET ?= whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
export GITHUB_SECRET ?= dev-github-secret
export STRIPE_SECRET ?= whsec_dev_stripe_secret
export MUX_SECRET ?= dev-mux-secret
export SHOTSTACK_TOKEN ?= dev-shotstack-token

.PHONY: build run reset test race fuzz lint fmt redis npm xcaddy bench chaos clean \
	test-e2e test-vet test-module test-race test-fuzz test-xcaddy

build:
	$(GO) build -o $(BIN) ./cmd/caddy

# `make run` keeps its state in RUN_DIR, not in your Caddy's: the embedded
# store's claims and queue (a second quick start would otherwise answer
# `duplicate` for 24 h), Caddy's data and its autosaved config. `make reset`
# deletes it.
RUN_DIR := $(CURDIR)/bin/run
run: build
	XDG_DATA_HOME=$(RUN_DIR)/data XDG_CONFIG_HOME=$(RUN_DIR)/config \
		$(BIN) run --config caddyfiles/Caddyfile --adapter caddyfile

reset:
	rm -rf $(RUN_DIR)

# The pure packages run under the race detector; the Caddy glue's unit tests
# (parsers, no goroutines) run without it, since instrumenting all of Caddy
# costs minutes on a cold cache; its concurrency is exercised end to end
# against the built gateway. `make race` runs everything under -race.
#
# The steps run as a graph, not a line. A cold run is mostly compiling:
# Caddy once (bin/caddy; vet, the glue's tests, the fuzz pass and xcaddy
# reuse it) and the pure packages' dependencies again under -race, which
# does not wait for Caddy. The end-to-end tests mostly wait on processes,
# so they run while the rest compiles. A step's output is printed whole
# when it ends.
TEST_JOBS ?= 4
test: fmt redis npm
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target \
		test-e2e test-vet test-module test-race test-fuzz test-xcaddy

test-e2e: build
	WHI_CADDY=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 15m ./test/
test-vet: build
	$(GO) vet ./...
test-module: build
	$(GO) test -count=1 ./module/
test-race:
	$(GO) test -race -count=1 ./internal/...
test-fuzz: build
	@$(MAKE) --no-print-directory fuzz
test-xcaddy: build
	@$(MAKE) --no-print-directory xcaddy

race: redis npm
	$(GO) test -race -count=1 ./module/... ./internal/...
	$(GO) build -race -o bin/caddy-race ./cmd/caddy
	WHI_CADDY=$(CURDIR)/bin/caddy-race $(GO) test -count=1 -timeout 20m ./test/

lint: fmt
	$(GO) vet ./...

fmt:
	@out=$$(gofmt -l . | grep -v '^node_modules' || true); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Tests that need Redis start their own redis-server on a free port.
redis:
	@if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
		else \
			echo "redis-server is missing: install it (Debian: sudo apt-get install -y redis-server) and run make test again"; exit 1; \
		fi; \
	fi

# The providers' own npm packages sign and verify in the end-to-end tests.
npm:
	@command -v npm >/dev/null || { echo "node and npm are needed for the end-to-end tests (Debian: apt-get install -y nodejs npm)"; exit 1; }
	cd test/npm && npm ci --no-audit --no-fund --loglevel=error

# A short run of the header parsers' fuzz targets; `make chaos` runs every
# fuzz target, the Caddyfile parser's too, for a minute each. (Fuzzing the
# Caddy glue instruments all of Caddy: minutes of build, so not in make test;
# `go test` still runs its seed corpus.) Each package's instrumented test
# binary is built once and runs its targets one by one, from the package's
# folder (where its corpus is) and with go test's fuzz cache, instead of a
# `go test -fuzz` (a link) per target.
#
# Coverage guidance: `go test -fuzz` instruments every package, the standard
# library included, which is a build of its own (minutes on a cold cache)
# and makes each input about ten times slower. The short pass instruments
# this module's packages only (-d=libfuzzer is what go test -fuzz gives the
# compiler on amd64 and arm64): the dependencies come from the plain build,
# and three seconds try ten times the inputs, guided by the parsers' own
# code. make chaos fuzzes with go test's full instrumentation.
#
# A target that fails runs once more: on a busy machine Go 1.26's fuzzing
# can end with a bare "context deadline exceeded" as its time runs out
# (go.dev/issue/75804, fixed in Go 1.27). A real failure leaves its input
# in testdata/fuzz, so the second run fails on it at once.
FUZZPKGS ?= ./internal/verify ./internal/store ./internal/deliver
FUZZBUILD ?= -gcflags='github.com/webhook-ingress/caddy-webhook-ingress/...=-d=libfuzzer'
fuzz:
	@mkdir -p bin/fuzz; cache=$$($(GO) env GOCACHE)/fuzz; \
	for pkg in $$($(GO) list $(FUZZPKGS)); do \
		dir=$$($(GO) list -f '{{.Dir}}' $$pkg); test=$(CURDIR)/bin/fuzz/$$(basename $$pkg).test; \
		grep -qs '^func Fuzz' $$dir/*_test.go || continue; \
		$(GO) test -c $(FUZZBUILD) -o $$test $$pkg || exit 1; \
		for f in $$(cd $$dir && $$test -test.list '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			run() { (cd $$dir && $$test -test.run='^$$' -test.fuzz="^$$f$$" -test.fuzztime=$(FUZZTIME) \
				-test.fuzzcachedir=$$cache/$$pkg); }; \
			run || { echo "fuzz $$pkg $$f once more"; run; } || exit 1; \
		done; \
	done

# Fault injection at full length, then every fuzz target for a minute.
chaos: redis build
	WHI_CHAOS=long WHI_CADDY=$(CURDIR)/$(BIN) $(GO) test -count=1 -run TestChaos -timeout 30m -v ./test/
	$(MAKE) fuzz FUZZTIME=1m FUZZPKGS="./internal/... ./module/..." FUZZBUILD=-fuzz=.

# Users add the module to their own Caddy with xcaddy; check that it builds.
# The module is not on the proxy, so the local checkout stands in for a
# version; with cgo on and without -trimpath (xcaddy defaults to neither)
# the build reuses the cache of `make build`.
xcaddy:
	CGO_ENABLED=1 XCADDY_GO_BUILD_FLAGS="-ldflags=-s" $(GO) run github.com/caddyserver/xcaddy/cmd/xcaddy@v0.4.5 build v2.11.9 \
		--with github.com/webhook-ingress/caddy-webhook-ingress@v0.0.0=$(CURDIR) --output bin/xcaddy-caddy
	bin/xcaddy-caddy list-modules | grep -q '^http.handlers.webhook_verify$$'
	@echo "xcaddy build lists http.handlers.webhook_verify"

# Throughput, latency, Redis round trips and memory side by side with plain
# reverse_proxy; writes BENCHMARKS.md. BENCHFLAGS='-duration 3s' for a quick
# look; BENCHFLAGS='-backlog 1000000' adds the big-backlog check (minutes).
BENCHFLAGS ?=
bench: redis build
	$(GO) run ./test/bench -caddy $(BIN) $(BENCHFLAGS)

clean:
	rm -rf bin
