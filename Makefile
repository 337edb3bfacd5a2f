# channelstream-go: thin targets, one obvious command each. CI runs `make test`
# through .ci/run.

GO       ?= go
FUZZTIME ?= 60s
SRC_DIRS := $(wildcard cmd core httpapi transports web)

.PHONY: run build test deps lint fmt fuzz fuzz-short bench clean

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

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
