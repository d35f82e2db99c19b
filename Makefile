# DPC — the two commands of the README's quickstart are `make run` and
# `make test`. Everything else is built from go.mod through the Go module
# proxy; nothing needs installing by hand beyond Go itself.

GO       ?= go
# HUB_FLAGS: extra dpc-hub flags for `make run` (e.g. HUB_FLAGS="--port 4333").
HUB_FLAGS ?=
PKGS     := ./...
TESTFLAGS ?= -race -count=1 -timeout 15m

.PHONY: run test vet fmt-check bench build clean clean-data web

## run: start the hub on its embedded defaults (NATS on 4222, the web app on 8443, monitoring on 8222, data in ./data)
# (Built, then run in place of the recipe's shell: under `go run`, Ctrl-C
# made go exit 1 and make print an error although the hub stopped cleanly.)
run:
	$(GO) build -o bin/dpc-hub ./cmd/dpc-hub
	exec bin/dpc-hub $(HUB_FLAGS)

## test: the whole suite with the race detector (what CI runs)
test:
	$(GO) test $(TESTFLAGS) $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: omq vs raw NATS request-reply; `go run ./cmd/dpc-bench thesis|soak|replay` for the others (see docs/BENCHMARKS.md)
bench:
	$(GO) run ./cmd/dpc-bench

build:
	$(GO) build -o bin/ ./cmd/...

## web: rebuild the web app's bundle web/dist from web/src (npm ci, then esbuild); the output is committed, so the Go build never needs npm
web:
	cd web && npm ci --no-audit --no-fund && npm run build

## clean: remove built binaries (the hub's data stays: its notes and identity)
clean:
	rm -rf bin

## clean-data: delete the hub's data: every note, the durable lane, and its identity (every paired device must pair again)
clean-data:
	rm -rf data
