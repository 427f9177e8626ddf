# servicectl: `make demo` shows it working on the example playpen,
# `make test` runs every test. Both work on a fresh machine with Go.
GO      ?= go
BIN     := bin/servicectl
DEMO    := _demo/playpen
FUZZTIME ?= 200000x
PKGS    := ./...

.PHONY: all build test vet fuzz demo demo-stop debs bench bench-peers conformance reliability tools clean install man

PREFIX  ?= /usr/local
DESTDIR ?=

all: build

build:
	$(GO) build -o $(BIN) ./cmd/servicectl

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet $(PKGS)

# Every test, with the race detector, then each fuzz target for a short
# while (longer: make fuzz FUZZTIME=5000000x). The budget is a count of
# executions, not a duration: a duration races Go 1.26's fuzz coordinator
# at its deadline and fails with "context deadline exceeded" and no
# crasher (golang/go#75804, fixed in Go 1.27).
test: tools vet
	$(GO) test -race -count=1 $(PKGS)
	$(MAKE) --no-print-directory fuzz

# What the tests run against (command:package): dash (configs mean what
# dash makes of them, SPEC §3.2), Chromium (the dashboard test),
# systemd-analyze and supervisord (exported units). Installed when missing; needs root
# and Debian's apt.
tools:
	@missing=""; for tp in dash:dash chromium:chromium systemd-analyze:systemd supervisord:supervisor; do command -v $${tp%%:*} >/dev/null || missing="$$missing $${tp#*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The long conformance run: 20,000 random assignments and 20,000 random
# hook scripts compared with dash
# (make test runs 500 and 150), the idiom and hook corpora and the
# machine's config files.
conformance: tools
	SERVICECTL_SHDIFF_N=20000 SERVICECTL_HOOKDIFF_N=20000 $(GO) test -count=1 -v -run 'Dash|Random' ./hooks | grep -E '^(---|ok|FAIL|\s+\S+_test.go)'


# The reliability report (docs/RELIABILITY.md): kill -9 at every point,
# pid-reuse and concurrency soaks, hostile input, supervisor faults,
# configs against dash, every fuzz target for FUZZ_N executions. About 12
# minutes on 2 cores; prints the table and rewrites the document.
reliability: tools
	GO="$(GO)" sh scripts/reliability.sh

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzVersion$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./pkgsvc
	$(GO) test -run '^$$' -fuzz '^FuzzPackageLists$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./pkgsvc
	$(GO) test -run '^$$' -fuzz '^FuzzDeps$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./pkgsvc
	$(GO) test -run '^$$' -fuzz '^FuzzJournal$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./pkgsvc/upgrade
	$(GO) test -run '^$$' -fuzz '^FuzzConstraints$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./envtypes
	$(GO) test -run '^$$' -fuzz '^FuzzSub$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./hooks
	$(GO) test -run '^$$' -fuzz '^FuzzConform$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./hooks

demo: build
	@GO="$(GO)" BIN="$(BIN)" DEMO="$(DEMO)" sh scripts/demo.sh

# The example hello packaged as Debian .debs (README "Packaging
# services"): 1.0.0 and 1.1.0 in _demo/debs/, maintainer scripts of one
# `servicectl package-hook` line each.
debs: build
	rm -rf _demo/debs _demo/debtree && mkdir -p _demo/debtree
	cp -R examples/playpen/ext/packages/hello-1.0.0 examples/packages/hello-1.1.0 _demo/debtree/
	for v in 1.0.0 1.1.0; do \
		$(GO) build -o _demo/debtree/hello-$$v/bin/hello ./examples/hello && \
		sh examples/debian/build.sh --start --etc examples/playpen/ext/etc/hello _demo/debtree/hello-$$v _demo/debs || exit 1; \
	done

demo-stop:
	@if [ -s $(DEMO)/daemon.pid ]; then kill $$(cat $(DEMO)/daemon.pid) 2>/dev/null; rm -f $(DEMO)/daemon.pid; fi
	@if [ -x $(BIN) ] && [ -d $(DEMO) ]; then $(BIN) --root $(DEMO) stop; else echo "no demo running"; fi

# Speed and memory figures (Go benchmarks; see README "Performance").
# The first line runs every benchmark once (the lifecycle and upgrade ones
# start hundreds of processes); the second repeats the fast ones for
# stable figures.
bench: build
	SERVICECTL_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench . -benchmem -benchtime 1x -count 1 ./pkgsvc ./pkgsvc/lifecycle ./hooks | tee bench.out
	SERVICECTL_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench 'ResolveOne|ShowJSON|VersusSh|UpgradePlan|Hook' -benchmem ./pkgsvc ./hooks
	SERVICECTL_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench DpkgUpgrade10 -benchtime 10x ./pkgsvc/pkghook | tee -a bench.out | tee -a bench.out
	$(GO) test -run '^$$' -bench RestartHeldSocket -benchtime 100x ./cmd/servicectl | tee -a bench.out

# Side by side with runit and supervisord (needs ../shared/bench/peers);
# results land in _bench/peers/tables.md, from this run only (the harness
# appends to its results file).
# The peer table of README's Performance section: one run of the shared
# harness, N=200 and N=1000, beside runit, s6, supervisord and the Go
# fork/exec floor (about 15 minutes; the peers are installed if missing).
bench-peers: build
	@missing=""; for tp in runsvdir:runit s6-svscan:s6 supervisord:supervisor; do command -v $${tp%%:*} >/dev/null || missing="$$missing $${tp#*:}"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	rm -rf _bench/peers
	mkdir -p _bench/logs
	BENCH_LOGDIR=$(CURDIR)/_bench/logs bash ../shared/bench/peers/run.sh -n "200 1000" -r 3 -p "runit s6 supervisord go-exec servicectl" -o $(CURDIR)/_bench/peers

# Install from source: the binary, bash/zsh/fish completions and man pages
# generated from the command tree (cobra's doc generator, built only with
# -tags gendocs). PREFIX=/usr/local by default; DESTDIR for packaging.
install: build man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/servicectl
	$(BIN) completion bash >$(DESTDIR)$(PREFIX)/share/bash-completion/completions/servicectl
	$(BIN) completion zsh >$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_servicectl
	$(BIN) completion fish >$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/servicectl.fish
	install -m 0644 _man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	@echo "installed servicectl in $(DESTDIR)$(PREFIX)/bin"

man:
	rm -rf _man
	$(GO) run -tags gendocs ./cmd/servicectl __gendocs _man

clean:
	rm -rf bin _demo _bench _reliability _man bench.out
