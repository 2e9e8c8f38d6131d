#!/usr/bin/env bash
# Mutation testing of the rule and format modules (issue 17, "tests that would notice a
# wrong rule"): cargo-mutants changes one thing in the code at a time (`<` into `<=`, a
# function body into `Ok(())`, ...) and runs the tests; a mutant the tests do not notice
# ("missed") is a rule no test pins. Figures and every survivor: docs/RELIABILITY.md,
# "Mutation testing".
#
#   scripts/mutants.sh                 every module below
#   scripts/mutants.sh record attest   only these modules
#   MUTANTS_RE='record.rs:6' scripts/mutants.sh record   only mutants matching a regex
#   MUTANTS_TESTS='--test keys_and_clock' scripts/mutants.sh replay   another test set
#       (e.g. to see whether a survivor is caught by tests outside the module's set)
#
# Results: tmp/mutants/<module>/mutants.out/{caught,missed,unviable,timeout}.txt.
#
# Why `--in-place`: the tests read `../shared/vectors` (beside the repo), and a copy of the
# tree (cargo-mutants' default, in $TMPDIR) has no `../shared` beside it; a copy also starts
# with an empty target directory, i.e. a full build of every dependency per run, which on a
# shared 2-core machine costs more than the whole run (and copying target/ is not allowed:
# it is many GB). In place, each mutant is an incremental rebuild of one crate in this
# checkout's own target/. The price: while it runs, the checked-out sources ARE mutated, so
# do not build or edit here meanwhile; and the script refuses to start unless the mutated
# crates' sources are committed, so that a mutant left behind by a killed run can be undone
# with `git checkout` without losing work (the trap below does that, and the end checks it).
#
# Frugal by design (2 cores shared by several people): `nice -n 19`, one mutant at a time
# (in place implies it), and per
# module only the test binaries that exercise it (no doctests, no unrelated proptests);
# those sets are below (judge.rs's includes `outside_time`: the notes it matches are the
# witnesses' evidence of outside time, which no other test of its set reads); replay.rs's
# is judge.rs's, not all of verify's tests: every verify test runs the replay, and with all
# of them a mutant cost about 50 s (12 binaries relinked), too slow to run its 125. A mutant caught by no test in its set counts as missed even if some
# other test of the workspace would catch it: the figures are a lower bound.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
OUT=${MUTANTS_OUT:-tmp/mutants}
RE=${MUTANTS_RE:-}
TESTS=${MUTANTS_TESTS:-}
# Pinned: the figures in docs/RELIABILITY.md were measured with this version.
VERSION=27.1.0

if ! "$CARGO" mutants --version >/dev/null 2>&1; then
    echo "installing cargo-mutants $VERSION (about 2 minutes)" >&2
    "$CARGO" install --locked cargo-mutants --version "$VERSION"
fi

# module -> "package file test-args". The test args are `cargo test` target selectors.
declare -A SPEC=(
    [record]="caseledger-core crates/core/src/record.rs --test state_machine --test rule_edges --test golden"
    [merkle]="caseledger-core crates/core/src/merkle.rs --lib --test merkle_oracle --test rfc6962_vectors"
    [note]="caseledger-core crates/core/src/note.rs --lib --test signed_note_vectors --test golden"
    [checkpoint]="caseledger-core crates/core/src/checkpoint.rs --lib --test golden --test signed_note_vectors"
    [encoding]="caseledger-core crates/core/src/encoding.rs --lib --test encoding_props --test golden"
    [hash]="caseledger-core crates/core/src/hash.rs --lib --test golden --test rfc6962_vectors"
    [time]="caseledger-core crates/core/src/time.rs --lib --test dates --test state_machine --test golden"
    [replay]="caseledger-verify crates/verify/src/replay.rs --test tamper --test anchor --test offline --test incremental --test outside_time --test storage"
    [judge]="caseledger-verify crates/verify/src/judge.rs --test tamper --test anchor --test offline --test incremental --test outside_time --test storage"
    [attest]="caseledger-verify crates/verify/src/attest.rs --test attested --test retention_rules"
    [outside_time]="caseledger-verify crates/verify/src/outside_time.rs --lib --test outside_time --test anchor"
    [clock]="caseledger-verify crates/verify/src/clock.rs --test keys_and_clock --test retention_rules"
)
ORDER=(record checkpoint encoding hash time note merkle attest clock outside_time judge replay)

modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=("${ORDER[@]}")
for m in "${modules[@]}"; do
    [ -n "${SPEC[$m]:-}" ] || { echo "unknown module $m (known: ${ORDER[*]})" >&2; exit 2; }
done

if ! git diff --quiet HEAD -- crates/core/src crates/verify/src; then
    echo "refusing: crates/core/src or crates/verify/src has uncommitted changes (commit them:" >&2
    echo "a mutant left behind is undone with git checkout)" >&2
    exit 2
fi
restore() {
    if ! git diff --quiet HEAD -- crates/core/src crates/verify/src; then
        echo "a mutated source was left behind: restoring it from git" >&2
        git checkout HEAD -- crates/core/src crates/verify/src
    fi
}
trap restore EXIT

for m in "${modules[@]}"; do
    read -r pkg file testargs <<<"${SPEC[$m]}"
    testargs=${TESTS:-$testargs}
    mkdir -p "$OUT/$m"
    echo "== $m ($file, tests: $testargs)"
    # --minimum-test-timeout: the auto timeout (from the baseline) is too tight when the
    # machine is busy; a hung mutant (an infinite loop) still ends within it.
    nice -n 19 "$CARGO" mutants --in-place --package "$pkg" --file "$file" \
        ${RE:+--re "$RE"} --output "$OUT/$m" --minimum-test-timeout 60 --build-timeout 600 \
        --colors never -- $testargs || true
    for k in caught missed unviable timeout; do
        printf '%s %s: %s\n' "$m" "$k" "$(wc -l <"$OUT/$m/mutants.out/$k.txt" 2>/dev/null || echo 0)"
    done
    restore
done
