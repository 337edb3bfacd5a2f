# channelstream-go: thin targets, one obvious command each. CI runs `make test`
# through .ci/run.

GO       ?= go
FUZZTIME ?= 60s
# make bench: BENCH_FLAGS go to csbench suite (e.g. BENCH_FLAGS='--repeat 3
# --json bench.json --plot bench.png'); BENCH_PIN runs csbench apart from the
# server, which csbench pins to core 0 (--server-cpu).
BENCH_FLAGS ?=
BENCH_PIN   ?= $(shell command -v taskset >/dev/null && [ "$$(nproc)" -gt 1 ] && echo taskset -c 1)
SRC_DIRS := $(wildcard cmd core httpapi transports web)

.PHONY: run build test deps lint fmt fuzz fuzz-short bench bench-go soak clean

run:
	@echo "channelstream-go on http://127.0.0.1:8000 (API, /ws, /sse, /listen, /admin; demo chat at /demo); Ctrl-C stops it"
	$(GO) run ./cmd/channelstream --host 127.0.0.1 --port 8000 --demo

build:
	$(GO) build -o bin/channelstream ./cmd/channelstream

test: deps lint
	$(MAKE) --no-print-directory fuzz-short
	$(GO) test -race -count=1 ./...

deps:
	bash .ci/deps.sh

lint:
	@files="$$(gofmt -l $(SRC_DIRS))"; \
	if [ -n "$$files" ]; then echo "gofmt: these files need 'make fmt':"; echo "$$files"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $(SRC_DIRS)

fuzz:
	bash .ci/fuzz-short.sh $(FUZZTIME)

fuzz-short:
	bash .ci/fuzz-short.sh 3s

# The short default suite (under 3 minutes): channelstream-go, and
# Centrifugo when installed, measured side by side; one table.
bench: build
	$(GO) build -o bin/csbench ./cmd/csbench
	$(BENCH_PIN) bin/csbench suite --server-bin bin/channelstream $(BENCH_FLAGS)

# The Go micro-benchmarks (go test -bench).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The soak under faults (not part of test): the real binary, thousands of
# clients, every fault, a restart; its Redis variant runs SOAK_NODES nodes
# (2; one is killed with SIGKILL) with the data plane (SOAK_DATA_PLANE=0:
# without). Knobs: SOAK_DURATION (2m), SOAK_CLIENTS (3000), SOAK_RATE (20
# POST /message per second), SOAK_BAD_RATE (100 malformed requests per
# second), SOAK_NODES, SOAK_DATA_PLANE.
soak:
	CHANNELSTREAM_SOAK=1 $(GO) test -count=1 -timeout 60m -run '^TestSoakFaults' -v ./cmd/channelstream

clean:
	rm -rf bin
