# mgvcore — build, test and measure.
#
#   make build   binary with build info in bin/mgvcore
#   make release static CGO_ENABLED=0 linux binary in bin/release/mgvcore
#                (needs no particular glibc; checked with ldd)
#   make test    start the real test dependencies, vet, unit tests with -race,
#                end-to-end tests against the real binary, a bounded
#                schemathesis run against its /openapi.json, the static
#                release build
#   make bench   benchmarks of ../shared QUALITY bars into docs/BENCHMARKS.md
#   make fuzz    every fuzz target for FUZZTIME (default 60s)
#   make lint    gofmt, go vet, golangci-lint, staticcheck, govulncheck against
#                a local copy of the Go vulnerability database, the OpenAPI linters
#   make proto   Go and Python stubs from api/proto (scripts/proto.sh)

SHELL        := bash
.SHELLFLAGS  := -eu -o pipefail -c
GO           ?= go
# Build with the toolchain go.mod names (its `toolchain` line), downloaded
# through the module proxy when the local go is older, even where the
# environment says GOTOOLCHAIN=local.
export GOTOOLCHAIN := auto
PKG          := github.com/megaview/mgvcore
BIN          := bin/mgvcore
TMP          := tmp
GIT_COMMIT   := $(shell git log -1 --format='%h %s' 2>/dev/null | tr "'\"" '__' || echo unknown)
GIT_RELEASE  := $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
BUILD_TIME   := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS      := -s -w \
	-X '$(PKG)/global.GitCommit=$(GIT_COMMIT)' \
	-X '$(PKG)/global.GitRelease=$(GIT_RELEASE)' \
	-X '$(PKG)/global.BuildTime=$(BUILD_TIME)'
# Build tags that leave out what the service never uses: urfave/cli's man
# page and markdown writers (and the markdown parser they bring), and
# grpc-go's golang.org/x/net/trace event log (and html/template with it),
# which would also register /debug/requests on http.DefaultServeMux: 0.5 MB
# smaller, two package initialisers fewer.
TAGS         := urfave_cli_no_docs,grpcnotrace
# Pinned linters, each built once into $MGV_CACHE_DIR/tools (scripts/gotool.sh),
# and the golang.org/x/vulndb version the local vulnerability database is
# built from (scripts/vulndb.sh, into $MGV_CACHE_DIR/vulndb).
STATICCHECK    := honnef.co/go/tools/cmd/staticcheck@v0.6.1
GOLANGCI_LINT  := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
GOVULNCHECK    := golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
# Test dependencies' addresses, written by scripts/testenv.sh.
TESTENV      := $(TMP)/testenv.env

.PHONY: all build release run test testenv testenv-down vet unit e2e schemathesis bench fuzz lint fmt cert clean

all: build

build:
	$(GO) build -trimpath -tags $(TAGS) -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/mgvcore

# The release binary links nothing dynamically (the SQLite driver is pure
# Go), so it runs on any Linux kernel Go supports, whatever the glibc.
RELEASE_BIN := bin/release/mgvcore
release:
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -tags osusergo,netgo,$(TAGS) -ldflags "$(LDFLAGS)" -o $(RELEASE_BIN) ./cmd/mgvcore
	@out=$$(LC_ALL=C ldd $(RELEASE_BIN) 2>&1 || true); \
	case "$$out" in \
	*"not a dynamic executable"*|*"statically linked"*) echo "$(RELEASE_BIN): static ($$out)";; \
	*) echo "$(RELEASE_BIN) is dynamically linked:"; echo "$$out"; exit 1;; \
	esac

run: build
	./$(BIN) serve

cert: build
	./$(BIN) cert --force

test: testenv vet unit e2e schemathesis release

testenv:
	@mkdir -p $(TMP)
	scripts/testenv.sh up > $(TESTENV)
	@cat $(TESTENV)

testenv-down:
	scripts/testenv.sh down

vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e,bench ./internal/e2e/...

unit:
	set -a; [ -f $(TESTENV) ] && . ./$(TESTENV); set +a; \
	$(GO) test -race -count=1 -timeout 25m ./...

e2e:
	scripts/chromium.sh
	set -a; [ -f $(TESTENV) ] && . ./$(TESTENV); set +a; \
	$(GO) test -tags e2e -count=1 -timeout 45m ./internal/e2e/...

# Bounded schemathesis run (ST_MAX_EXAMPLES per operation) against a seeded
# binary on a fresh MariaDB database; the pinned schemathesis lives in its
# own venv under $MGV_CACHE_DIR (default ~/.cache/mgvcore).
schemathesis:
	set -a; [ -f $(TESTENV) ] && . ./$(TESTENV); set +a; \
	scripts/schemathesis.sh

bench: testenv
	set -a; . ./$(TESTENV); set +a; scripts/bench.sh

# Each fuzz target runs FUZZTIME; what a run finds is fixed and its input
# kept under testdata/fuzz as a regression case.
FUZZTIME ?= 60s
FUZZ_TARGETS := \
	./internal/config:FuzzParse \
	./internal/search:FuzzParse \
	./internal/logic/conversation:FuzzValidateSentence \
	./internal/logic/interaction:FuzzComputeMetrics \
	./internal/http/render:FuzzDecodeBody \
	./internal/http/render:FuzzBodyText

fuzz:
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 200x $$pkg; \
	done

# Every step runs, so one run lists all findings; lint fails if any step did.
# The e2e tag only adds the end-to-end test files and bench only the
# benchmarks among them (no file excludes either), so one run of a linter
# with both covers every build.
lint: vet
	@status=0; \
	out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; status=1; fi; \
	gcl=$$(scripts/gotool.sh $(GOLANGCI_LINT)); \
	sc=$$(scripts/gotool.sh $(STATICCHECK)); \
	run() { echo "+ $$*"; "$$@" || status=1; }; \
	run $$gcl run --max-issues-per-linter=0 --max-same-issues=0 --build-tags e2e,bench ./...; \
	run $$sc -tags e2e,bench ./...; \
	run env GOVULNCHECK=$(GOVULNCHECK) VULNDB_VERSION=$(VULNDB_VERSION) scripts/govulncheck.sh ./...; \
	exit $$status

# api/openapi.yaml through Redocly and Spectral (spectral:oas), both pinned
# in the script and installed with npm under $MGV_CACHE_DIR; 0 errors.
.PHONY: lint-openapi
lint: lint-openapi
lint-openapi:
	scripts/openapi-lint.sh

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

clean:
	rm -rf bin $(TMP)

.PHONY: proto

# Regenerates api/proto/mgv/open/v1/*.pb.go and the Python stubs in gen/,
# installing protoc, the pinned plugins and the venv when missing.
proto:
	scripts/proto.sh
