# mmuviz — `make run` and `make test` are the two commands of the README.
#
# Real file targets keep a second `make` cheap: the wasm is rebuilt only when
# a Go file (or lesson/scenario file) of the packages it is built from
# changes, the server only when the site or its own code changes.

GO        ?= go
GOROOT    := $(shell $(GO) env GOROOT)
ADDR      ?= 127.0.0.1:8080
DIST      := web/dist
WASM      := $(DIST)/mmuviz.wasm
WASM_BR   := $(WASM).br
WASM_EXEC := $(DIST)/wasm_exec.js
SERVER    := bin/mmuviz-server
SITE      := site
BROTLI    := $(shell command -v brotli 2>/dev/null)
# brotli -q 9 takes ~7 s on the 22 MB wasm, -q 11 ~100 s for 12% less; the
# default keeps rebuilds cheap, `make BROTLI_Q=11 server` gives the smallest.
BROTLI_Q  ?= 9

# Ebiten's pixel tests (render/draw) need a display: give them a virtual one
# when there is none and xvfb-run (and xauth) are installed; else they skip.
XVFB_RUN  := $(if $(DISPLAY),,$(if $(shell command -v xvfb-run 2>/dev/null),$(if $(shell command -v xauth 2>/dev/null),xvfb-run -a)))

# The packages the js/wasm build and vet cover, if they exist yet.
JS_DIRS   := wasm render lessons scenarios mmu
JS_PKGS   := $(foreach d,$(JS_DIRS),$(if $(wildcard $(d)/*.go),./$(d)/...))

# Everything the wasm is built from: sources and embedded content (lessons,
# scenario files), not tests.
WASM_SRCS := $(shell find $(JS_DIRS) -type f -not -name '*_test.go' -not -path '*/testdata/*' 2>/dev/null) go.mod go.sum
SERVER_SRCS := $(shell find cmd/server -name '*.go' -not -name '*_test.go') \
	web/embed.go web/index.html web/game.html $(wildcard web/*.js) web/style.css web/favicon.svg

.PHONY: all run test bench static wasm server clean fmt-check vet vet-js help

all: server

help:
	@echo "make run        build everything and serve on http://$(ADDR)/"
	@echo "make test       gofmt check, go vet (native and js/wasm), wasm build, go test ./... (with the browser test)"
	@echo "make bench      benchmarks, wasm sizes and page-load time"
	@echo "make static     write the static site to ./$(SITE)/"
	@echo "make wasm | server | vet | fmt-check | clean"

## Build ---------------------------------------------------------------------

wasm: $(WASM) $(WASM_EXEC) $(if $(BROTLI),$(WASM_BR))

$(WASM): $(WASM_SRCS)
	@mkdir -p $(DIST)
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags="-s -w" -o $@ ./wasm

# wasm_exec.js must come from the toolchain that built the wasm.
$(WASM_EXEC): $(GOROOT)/lib/wasm/wasm_exec.js
	@mkdir -p $(DIST)
	cp $< $@

# The server serves this to browsers that accept br; without the brotli
# command it serves gzip, which it computes itself. The .sha256 sidecar names
# the wasm it was made from: the server ignores a .br that does not match, so
# a wasm rebuilt by hand is never shadowed by a stale .br. Written through a
# temporary file so that a concurrent build never embeds half a file.
$(WASM_BR): $(WASM)
	brotli -q $(BROTLI_Q) -f -o $@.tmp $<
	sha256sum $< | cut -d' ' -f1 > $@.sha256
	mv $@.tmp $@

server: $(SERVER)

$(SERVER): $(SERVER_SRCS) $(WASM) $(WASM_EXEC) $(if $(BROTLI),$(WASM_BR))
	@mkdir -p bin
	$(GO) build -trimpath -o $@ ./cmd/server

run: $(SERVER)
	./$(SERVER) -addr $(ADDR)

static: $(SERVER)
	./$(SERVER) -static $(SITE)

## Checks --------------------------------------------------------------------

fmt-check:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet: vet-js
	$(GO) vet ./...

vet-js:
	$(if $(JS_PKGS),GOOS=js GOARCH=wasm $(GO) vet $(JS_PKGS))

# The wasm is built first so the embedded site (and the browser test) is real.
test: fmt-check vet wasm
	$(XVFB_RUN) $(GO) test ./...

bench: wasm
	$(XVFB_RUN) $(GO) test -run='^$$' -bench=. -benchmem ./...
	@echo "wasm size: raw $$(wc -c < $(WASM)) bytes, gzip -9 $$(gzip -9 -c $(WASM) | wc -c) bytes, brotli (-q $(BROTLI_Q) when built) $(if $(BROTLI),$$(wc -c < $(WASM_BR)) bytes,n/a (no brotli command))"

clean:
	rm -rf bin $(SITE)
	find $(DIST) -mindepth 1 -not -name .gitkeep -delete
