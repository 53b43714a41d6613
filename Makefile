# Petrel: one static, stripped binary; see README.md.
GO       ?= go
BIN      ?= bin
PREFIX   ?= /usr/local
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
PKG      := github.com/petrel-edge/petrel
LDFLAGS  := -s -w -X $(PKG)/applets/version.Version=$(VERSION) -X $(PKG)/applets/version.Commit=$(COMMIT)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'
# os/arch[/variant] targets of `make cross`
TARGETS  := linux/amd64 linux/arm64 linux/arm/6 linux/arm/7 linux/riscv64 linux/386

.PHONY: all build cross test test-integration validate bench install clean vet fmt-check demo

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/petrel .

cross:
	@for t in $(TARGETS); do \
		os=$${t%%/*}; rest=$${t#*/}; arch=$${rest%%/*}; variant=; \
		[ "$$rest" != "$$arch" ] && variant=$${rest#*/}; \
		out=$(BIN)/petrel-$$os-$$arch$${variant:+v$$variant}; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$$variant $(GO) build $(GOFLAGS_BUILD) -o $$out . || exit 1; \
		printf '%-28s %8d bytes\n' $$out $$(stat -c %s $$out); \
	done

vet:
	$(GO) vet ./...
	$(GO) vet -tags integration ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

# Unit tests: no root needed.
test: fmt-check vet
	$(GO) test ./...

# Root-needing tests with real containers (see tests/).
test-integration: build
	PETREL_BIN=$(abspath $(BIN)/petrel) $(GO) test -tags integration -count=1 -p 1 -timeout 30m ./...

# Benchmarks (root; see bench/README.md). Flags through BENCHFLAGS, e.g. BENCHFLAGS='-n 50 -json'.
.PHONY: bench-runtime
bench: bench-runtime bench-pull

bench-runtime: build
	$(GO) run ./bench/cmd/runtimebench -petrel $(abspath $(BIN)/petrel) $(BENCHFLAGS)

# Pull and unpack of one image from a local registry: petrel, skopeo+umoci,
# podman (root; see bench/pull.md). Flags through PULLFLAGS, e.g. PULLFLAGS='-n 9 -json'.
.PHONY: bench-pull
bench-pull: build
	$(GO) run ./bench/cmd/pullbench -petrel $(abspath $(BIN)/petrel) $(PULLFLAGS)

# Every fuzz target of the tree for FUZZTIME each, one after another.
FUZZTIME ?= 15s
.PHONY: fuzz
fuzz:
	@grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sort | \
	while IFS=: read -r file fn; do \
		fn=$${fn#func }; pkg=./$$(dirname "$${file#./}"); \
		echo "fuzz: $$pkg $$fn for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) "$$pkg" || exit 1; \
	done

# The main job on a fresh machine: a busybox container through petrel-runtime.
demo: build
	scripts/demo.sh $(BIN)/petrel

install: build
	install -D -m 0755 $(BIN)/petrel $(DESTDIR)$(PREFIX)/bin/petrel
	$(DESTDIR)$(PREFIX)/bin/petrel --install $(DESTDIR)$(PREFIX)/bin

clean:
	rm -rf $(BIN)

# The README's test command: install what the tests need, then every suite.
check: setup test fuzz test-integration validate

setup:
	scripts/setup.sh

# OCI runtime-tools validation of petrel-runtime beside runc (tests/validation/README.md).
validate: build
	tests/validation/validate.sh
