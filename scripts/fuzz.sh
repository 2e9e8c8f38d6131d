#!/usr/bin/env bash
# Runs the cargo-fuzz targets (fuzz/fuzz_targets) on the stable toolchain and prints, per
# target, the executions, libFuzzer's final coverage (cov: edges, ft: features) and the
# crashes found. Used by `make fuzz`, `make fuzz-long` and .ci/run.
#
#   scripts/fuzz.sh time SECONDS [TARGET...]   each target for SECONDS
#   scripts/fuzz.sh runs N [TARGET...]         each target for N executions
#
# No target: every [[bin]] of fuzz/Cargo.toml. Exit 1 if any target crashed (its input is
# under fuzz/artifacts/<target>/, git-ignored), 2 on a usage or build error.
#
# Why RUSTC_BOOTSTRAP=1: cargo-fuzz passes nightly-only flags (-Zsanitizer=address and
# sancov options) to rustc; this lets the stable compiler accept them. Memory and thread
# sanitizers would need -Zbuild-std (a nightly std source), which this machine cannot get.
# Corpora: fuzz/corpus/<target>/ (seed-* files committed, everything libFuzzer adds
# git-ignored), so a later run starts from what earlier runs found.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned: a new cargo-fuzz could change flags or output; bump deliberately.
CARGO_FUZZ_VERSION=0.13.2
CARGO=${CARGO:-cargo}

mode=${1:-}
amount=${2:-}
case "$mode" in
  time) limit="-max_total_time=$amount" ;;
  runs) limit="-runs=$amount" ;;
  *) echo "usage: scripts/fuzz.sh time SECONDS|runs N [TARGET...]" >&2; exit 2 ;;
esac
[[ "$amount" =~ ^[0-9]+$ ]] || { echo "fuzz: $mode wants a number, got '$amount'" >&2; exit 2; }
shift 2

if ! "$CARGO" fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION (about 1-3 minutes)"
  "$CARGO" install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^caseledger-fuzz$')
fi

export RUSTC_BOOTSTRAP=1
start=$(date +%s)
# One build of every target first, so the build's time is its own line.
build_log=$(mktemp)
if [ $# -gt 0 ]; then
  for t in "${targets[@]}"; do "$CARGO" fuzz build "$t" >>"$build_log" 2>&1 || { tail -40 "$build_log"; exit 2; }; done
else
  "$CARGO" fuzz build >"$build_log" 2>&1 || { tail -40 "$build_log"; exit 2; }
fi
rm -f "$build_log"
echo "fuzz: built ${#targets[@]} targets in $(( $(date +%s) - start )) s"

rows=()
failed=0
passed=0
crashed=0
total=0
for t in "${targets[@]}"; do
  corpus=fuzz/corpus/$t
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  log=$(mktemp)
  before=$(find "fuzz/artifacts/$t" -type f | wc -l)
  t0=$(date +%s)
  # -timeout: an input slower than 10 s is a finding (a decoder that hangs is a denial of
  # service); -rss_limit_mb: likewise one that needs over 2 GiB.
  set +e
  "$CARGO" fuzz run "$t" "$corpus" -- "$limit" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - t0 ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  stats=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$stats")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$stats")
  crashes=$(( $(find "fuzz/artifacts/$t" -type f | wc -l) - before ))
  if [ "$rc" -ne 0 ]; then
    failed=1
    crashed=$(( crashed + 1 ))
    [ "$crashes" -gt 0 ] || crashes="? (exit $rc)"
    # The panic (or sanitizer report) and the input, not the backtrace that follows.
    echo "== fuzz $t FAILED:"
    grep -E -A3 "panicked at|ERROR: (AddressSanitizer|libFuzzer)|^SUMMARY" "$log" | head -20 || true
    grep -E -A2 "^Failing input:|^artifact_prefix|Test unit written to" "$log" | head -6 || true
  fi
  [ "$rc" -ne 0 ] || passed=$(( passed + 1 ))
  total=$(( total + ${execs:-0} ))
  rows+=("$(printf '%-18s %12s %7s %7s %8s %7s' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$crashes" "$secs")")
  rm -f "$log"
done

printf '%-18s %12s %7s %7s %8s %7s\n' target executions cov ft crashes seconds
printf '%s\n' "${rows[@]}"
echo "fuzz: $total executions in all, $(( $(date +%s) - start )) s (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%F))"
# One line in the form CI's log reader counts: targets that ran clean, targets that crashed.
echo "fuzz: $passed passed, $crashed failed"
exit $failed
