# caseledger: the few commands a newcomer needs. See README.md.
SHELL := /bin/bash
CARGO ?= cargo
BIN := target/release/caseledger
DEMO := ledger-data/demo

.PHONY: demo serve-demo test check deny build install bench bench-quick torture fuzz fuzz-long mutants clean-demo

## demo: build, create a ledger from the bundled sample practice, checkpoint, verify, sign a report.
demo: build
	@bash scripts/demo.sh "$(BIN)" "$(DEMO)"

## serve-demo: the sample practice's ledger served over HTTP on loopback (`caseledger serve`),
## with a client token printed and curl examples; ctrl-c stops it.
serve-demo: build
	@bash scripts/serve-demo.sh "$(BIN)" ledger-data/demo-serve

build:
	$(CARGO) build --release --locked -p caseledger

## install: the release binary, its man pages (caseledger.1 and one per subcommand) and shell
## completions (bash, zsh, fish) under $(DESTDIR)$(PREFIX). `cargo install --path crates/cli`
## installs the binary alone; `caseledger man --dir DIR` and `caseledger completions SHELL`
## write the rest.
PREFIX ?= /usr/local
DESTDIR ?=
install: build
	install -d "$(DESTDIR)$(PREFIX)/bin" "$(DESTDIR)$(PREFIX)/share/man/man1" \
		"$(DESTDIR)$(PREFIX)/share/bash-completion/completions" \
		"$(DESTDIR)$(PREFIX)/share/zsh/site-functions" \
		"$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d"
	install -m 0755 "$(BIN)" "$(DESTDIR)$(PREFIX)/bin/caseledger"
	"$(BIN)" man --dir "$(DESTDIR)$(PREFIX)/share/man/man1"
	"$(BIN)" completions bash > "$(DESTDIR)$(PREFIX)/share/bash-completion/completions/caseledger"
	"$(BIN)" completions zsh > "$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_caseledger"
	"$(BIN)" completions fish > "$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/caseledger.fish"

## test: formatting, lints, supply-chain checks, then every test in the workspace.
test: check deny
	$(CARGO) build --locked -p caseledger
	$(CARGO) test --workspace --locked
	$(CARGO) run --locked -p caseledger-store --example embed

## check: rustfmt, clippy and rustdoc with warnings as errors, and no module pairs that
## import each other (scripts/module-cycles.py).
check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --locked
	python3 scripts/module-cycles.py crates/*/src benches/src tests/e2e tests/reliability

## deny: licences, bans, sources and RustSec advisories (deny.toml), offline, against the
## snapshot in ADVISORY_DB. Needs cargo-deny (`cargo install --locked cargo-deny`); it is not
## installed here because that takes minutes and writes to ~/.cargo/bin.
ADVISORY_DB ?= ../shared/advisory-db
deny:
	@CARGO="$(CARGO)" bash scripts/deny.sh "$(ADVISORY_DB)"

## bench: criterion benches plus the ratio-to-floor harness (see benches/RESULTS.md).
bench:
	$(CARGO) bench -p caseledger-bench --locked
	$(CARGO) run --release --locked -p caseledger-bench --bin harness

## bench-quick: the harness at small sizes (under two minutes).
bench-quick:
	$(CARGO) run --release --locked -p caseledger-bench --bin harness -- --quick

## torture: the full reliability campaigns (see docs/RELIABILITY.md).
torture: build
	CASELEDGER_TORTURE=full $(CARGO) test --release --locked -p caseledger-tests --test reliability -- --nocapture

## fuzz: every cargo-fuzz target (fuzz/fuzz_targets) for FUZZ_TIME seconds each, on the
## stable toolchain (RUSTC_BOOTSTRAP=1: libFuzzer + AddressSanitizer); installs the pinned
## cargo-fuzz when missing. Prints executions, coverage and crashes per target.
## fuzz-long: each target for FUZZ_LONG_RUNS executions (13 targets x 1,000,000 = 13 million;
## about an hour on 2 cores). Figures: docs/RELIABILITY.md, "Fuzzing".
FUZZ_TIME ?= 60
FUZZ_LONG_RUNS ?= 1000000
fuzz:
	CARGO="$(CARGO)" bash scripts/fuzz.sh time $(FUZZ_TIME) $(FUZZ_TARGETS)

fuzz-long:
	CARGO="$(CARGO)" bash scripts/fuzz.sh runs $(FUZZ_LONG_RUNS) $(FUZZ_TARGETS)

## mutants: cargo-mutants over core's rule and format modules and the verifier's judging
## (scripts/mutants.sh; installs the pinned cargo-mutants when missing). Not part of `test`
## or CI: it runs in place (the checkout's sources are mutated one at a time, so do not build
## or edit meanwhile) and takes hours on 2 cores. MUTANTS_MODULES=record runs one module.
## Figures and every survivor: docs/RELIABILITY.md, "Mutation testing".
MUTANTS_MODULES ?=
mutants:
	CARGO="$(CARGO)" bash scripts/mutants.sh $(MUTANTS_MODULES)

clean-demo:
	rm -rf $(DEMO)
