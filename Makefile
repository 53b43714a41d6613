# Petrel: one static, stripped binary; see README.md.
GO       ?= go
BIN      ?= bin
PREFIX   ?= /usr/local
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
PKG      := github.com/petrel-edge/petrel
LDFLAGS  := -s -w -X $(PKG)/applets/version.Version=$(VERSION) -X $(PKG)/applets/version.Commit=$(COMMIT)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'
# arm64 and riscv64 binaries start their text at 0x10000 by default, 64 KiB
# off a 2 MiB boundary from its file offset, which rules out mapping it
# with 2 MiB pages (core/hugetext); this puts it where amd64's is.
TEXT_2M  := -T 0x401000
# Build targets by name, from cross/targets (name GOOS GOARCH GOARM …), the one
# list that package cross embeds too. ARCHES="arm64 armv7" picks some of them
# for cross, cross-test and size; cross-test's default is CI's set.
ALL_ARCHES        := $(shell sed -e 's/\#.*//' cross/targets | awk 'NF { print $$1 }')
CROSS_TEST_ARCHES := arm64 armv7 riscv64
ARCHES            ?=

.PHONY: all build cross cross-test size size-check test test-integration validate bench install clean vet fmt-check demo

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/petrel .

# bin/petrel-<GOOS>-<name> for every target of cross/targets (or ARCHES).
cross:
	@for t in $(or $(ARCHES),$(ALL_ARCHES)); do \
		set -- $$(sed -e 's/\#.*//' cross/targets | awk -v t=$$t '$$1 == t { print $$2, $$3, $$4 }'); \
		[ $$# = 3 ] || { echo "cross: no target $$t in cross/targets" >&2; exit 1; }; \
		arm=$$3; [ "$$arm" = - ] && arm=; out=$(BIN)/petrel-$$1-$$t; \
		text=; case $$2 in arm64|riscv64) text="$(TEXT_2M)";; esac; \
		CGO_ENABLED=0 GOOS=$$1 GOARCH=$$2 GOARM=$$arm $(GO) build -trimpath -ldflags "$(LDFLAGS) $$text" -o $$out . || exit 1; \
		printf '%-28s %8d bytes\n' $$out $$(stat -c %s $$out); \
	done

# Unit tests, petrel version and petrel-runtime run of each foreign target under
# qemu-user (root for the runtime part; see cross/README.md).
cross-test:
	@$(MAKE) --no-print-directory cross ARCHES="$(or $(ARCHES),$(CROSS_TEST_ARCHES)) $(if $(filter x86_64,$(shell uname -m)),amd64)"
	GO=$(GO) BIN=$(BIN) cross/cross-test.sh $(or $(ARCHES),$(CROSS_TEST_ARCHES))

# Size of every target's stripped static binary, and the amd64 one broken
# down by package (from a build that keeps its symbols).
size: cross
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(filter-out -s -w,$(LDFLAGS))' -o $(BIN)/petrel-linux-amd64.syms .
	@$(GO) run ./cross/cmd/footprint -bin $(BIN) -targets "$(or $(ARCHES),$(ALL_ARCHES))" -syms $(BIN)/petrel-linux-amd64.syms

# Fails when the amd64 binary outgrows the budget in cross/size-budget.
size-check:
	@$(MAKE) --no-print-directory cross ARCHES=amd64 >/dev/null
	@$(GO) run ./cross/cmd/footprint -bin $(BIN) -check cross/size-budget

vet:
	$(GO) vet ./...
	$(GO) vet -tags integration ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

# Unit tests: no root needed.
test: fmt-check vet size-check
	$(GO) test ./...

# Root-needing tests with real containers (see tests/).
test-integration: build
	PETREL_BIN=$(abspath $(BIN)/petrel) $(GO) test -tags integration -count=1 -p 1 -timeout 30m ./...

# Benchmarks (root; see bench/README.md). Flags through BENCHFLAGS, e.g. BENCHFLAGS='-n 50 -json'.
.PHONY: bench-runtime
bench: bench-runtime bench-pull bench-engine bench-footprint

bench-runtime: build
	$(GO) run ./bench/cmd/runtimebench -petrel $(abspath $(BIN)/petrel) $(BENCHFLAGS)

# Container lifecycle (create, start, stop, rm, run --rm; one at a time and
# 100 at once) and memory (daemons idle, per container with 50 running):
# petrel, docker, podman (root; see bench/README.md). Writes the JSON report
# to bench/enginebench.json. Flags through ENGINEFLAGS, e.g. ENGINEFLAGS='-n 20'.
.PHONY: bench-engine
bench-engine: build
	$(GO) run ./bench/cmd/enginebench -petrel $(abspath $(BIN)/petrel) -o bench/enginebench.json $(ENGINEFLAGS)

# The whole footprint in one table (root; see bench/README.md): every
# target's size, petreld's idle memory, memory per container, the client's
# and runtime's peak RSS, flash writes idle (FOOTPRINT_IDLE) and per
# container lifecycle, memory beside docker and podman (a short enginebench
# run with as many containers, first), and the ratios of the other
# benchmarks' saved reports (bench/*.json). Flags through FOOTPRINTFLAGS,
# e.g. FOOTPRINTFLAGS=-json, or FOOTPRINTFLAGS='-gc "default GOGC=100"'
# to compare collector settings instead.
FOOTPRINT_CONTAINERS ?= 10
FOOTPRINT_IDLE       ?= 10m
.PHONY: bench-footprint
bench-footprint: build cross
	@rm -f $(BIN)/footprint-engines.json
	-$(GO) run ./bench/cmd/enginebench -petrel $(abspath $(BIN)/petrel) -n 1 -warmup 0 -c 0 \
		-containers $(FOOTPRINT_CONTAINERS) -o $(BIN)/footprint-engines.json >/dev/null
	$(GO) run ./bench/cmd/footprint -petrel $(abspath $(BIN)/petrel) -bin $(BIN) -peers $(BIN)/footprint-engines.json \
		-containers $(FOOTPRINT_CONTAINERS) -idle $(FOOTPRINT_IDLE) $(FOOTPRINTFLAGS)

# Pull and unpack of one image from a local registry: petrel, skopeo+umoci,
# podman (root; see bench/pull.md). Flags through PULLFLAGS, e.g. PULLFLAGS='-n 9 -json'.
.PHONY: bench-pull
bench-pull: build
	$(GO) run ./bench/cmd/pullbench -petrel $(abspath $(BIN)/petrel) $(PULLFLAGS)

# Every fuzz target of the tree for FUZZTIME each, one after another. The
# budget is a count of inputs, not a duration: with a duration, Go 1.26's
# fuzz coordinator now and then fails a target with a bare "context
# deadline exceeded" when the time is up (go.dev/issue/75804, fixed in Go
# 1.27). 200000 inputs take 7 to 25 s a target on the CI machine.
FUZZTIME ?= 200000x
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
check: setup test fuzz test-integration cross-test validate

setup:
	scripts/setup.sh

# OCI runtime-tools validation of petrel-runtime beside runc (tests/validation/README.md).
validate: build
	tests/validation/validate.sh
